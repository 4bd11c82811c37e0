"""Sample cameras: serve Annex-B H.264 files as looping RTSP channels, no re-encoding.

Runs under the *system* interpreter (``/usr/bin/python3``) because GStreamer's
``gi`` bindings exist only there (Debian ``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``). Start it through :class:`RtspSampleServer`;
this file imports nothing from the project.

    /usr/bin/python3 rtsp_sample_server.py --port 8554 \
        --mount cam01=samples/vtest_480x360_g10.h264@10 --mount cam02=...@5

Prints ``READY <port>`` on stdout once it accepts connections.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


class LoopingH264Factory(GstRtspServer.RTSPMediaFactory):
    """One shared pipeline per mount; every client gets the same packets."""

    def __init__(self, path: str, fps: int) -> None:
        super().__init__()
        self._path = path
        self._fps = fps
        self.set_shared(True)
        self.connect("media-configure", self._on_media_configure)

    def do_create_element(self, url):  # noqa: N802 (GStreamer virtual method)
        launch = (
            f'multifilesrc location="{self._path}" loop=true '
            f'caps="video/x-h264,stream-format=byte-stream,framerate={self._fps}/1" '
            "! h264parse name=parse ! rtph264pay name=pay0 pt=96 config-interval=1"
        )
        return Gst.parse_launch(launch)

    def _on_media_configure(self, _factory, media) -> None:
        # multifilesrc + h264parse emit no timestamps; clients stall without them.
        parse = media.get_element().get_by_name("parse")
        duration = Gst.SECOND // self._fps
        counter = {"n": 0}

        def stamp(_pad, info):
            buf = info.get_buffer()
            if buf is not None:
                buf.pts = buf.dts = counter["n"] * duration
                buf.duration = duration
                counter["n"] += 1
            return Gst.PadProbeReturn.OK

        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, stamp)


def _parse_mount(spec: str) -> tuple[str, str, int]:
    name, _, rest = spec.partition("=")
    path, _, fps = rest.rpartition("@")
    if not name or not path or not fps.isdigit():
        raise SystemExit(f"bad --mount {spec!r}: expected NAME=FILE.h264@FPS")
    return name.strip("/"), path, int(fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", default=[], help="NAME=FILE.h264@FPS")
    parser.add_argument("--auth", default=None, help="USER:PASSWORD required on every mount")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    if args.auth:
        user, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
    for spec in args.mount:
        name, path, fps = _parse_mount(spec)
        factory = LoopingH264Factory(path, fps)
        if args.auth:
            permissions = GstRtspServer.RTSPPermissions()
            # add_role() is varargs in C and not callable from Python; add permissions one by one.
            permissions.add_permission_for_role("user", "media.factory.access", True)
            permissions.add_permission_for_role("user", "media.factory.construct", True)
            factory.set_permissions(permissions)
        mounts.add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on {args.host}:{args.port}")

    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    sys.exit(0)


if __name__ == "__main__":
    main()
