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
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstRtspServer, GstSdp  # noqa: E402

Gst.init(None)  # before the GstRTSPMedia subclass below is registered (its signals need GStreamer's types)


class CameraMedia(GstRtspServer.RTSPMedia):
    """A media whose SDP can be made to look like an embedded camera's (see ``sdp_quirks``)."""

    def do_setup_sdp(self, sdp, info):  # noqa: N802 (GStreamer virtual method)
        if not GstRtspServer.RTSPMedia.do_setup_sdp(self, sdp, info):
            return False
        options = getattr(self, "sdp_options", {})
        media = sdp.get_media(0)
        for i in reversed(range(media.attributes_len())):
            attr = media.get_attribute(i)
            if attr.key == "framerate" and options.get("sdp_framerate", "1") == "0":
                media.remove_attribute(i)  # live555 announces no frame rate
            elif attr.key == "fmtp" and options.get("sprop"):
                kept = [f for f in attr.value.split(";") if not f.startswith(("sprop-", "profile-level-id"))]
                new = GstSdp.SDPAttribute()
                new.set("fmtp", ";".join(kept + [f"sprop-parameter-sets={options['sprop']}"]))
                media.replace_attribute(i, new)
        return True


class LoopingH264Factory(GstRtspServer.RTSPMediaFactory):
    """One shared pipeline per mount; every client gets the same packets.

    Options imitate what real cameras send (see ``MountOptions``): H.265, audio,
    display-order stamps for B-frame files (from a ``.pts`` sidecar), an SDP
    without ``a=framerate``, garbage ``sprop-parameter-sets``.
    """

    def __init__(self, path: str, fps: int, options: dict[str, str] | None = None) -> None:
        super().__init__()
        self._path = path
        self._fps = fps
        self._opt = options or {}
        self.set_shared(True)
        self.set_media_gtype(CameraMedia)
        self.connect("media-configure", self._on_media_configure)

    def do_create_element(self, url):  # noqa: N802 (GStreamer virtual method)
        codec = self._opt.get("codec", "h264")
        rate = f"{self._fps}/1"
        interval = self._opt.get("config_interval", "1")
        launch = (
            f'multifilesrc location="{self._path}" loop=true '
            f'caps="video/x-{codec},stream-format=byte-stream,framerate={rate}" '
            f"! {codec}parse name=parse ! rtp{codec}pay name=pay0 pt=96 config-interval={interval}"
        )
        audio = self._opt.get("audio")
        if audio == "pcma":
            launch += (" audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! audio/x-raw,rate=8000,channels=1"
                       " ! alawenc ! rtppcmapay name=pay1 pt=8")
        elif audio == "aac":
            launch += (" audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! audio/x-raw,rate=16000,channels=1"
                       " ! voaacenc ! aacparse ! rtpmp4gpay name=pay1 pt=97")
        return Gst.parse_launch(f"( {launch} )" if audio else launch)

    def _on_media_configure(self, _factory, media) -> None:
        # multifilesrc + h264parse emit no timestamps; clients stall without them.
        element = media.get_element()
        parse = element.get_by_name("parse")
        duration = Gst.SECOND // self._fps
        counter = {"n": 0}
        order = _display_order(self._path) if self._opt.get("stamps") == "display" else None
        media.sdp_options = self._opt

        def stamp(_pad, info):
            buf = info.get_buffer()
            if buf is not None:
                n = counter["n"]
                buf.dts = n * duration
                if order is None:  # decode-order stamps (what live555 does with B-frame files)
                    buf.pts = buf.dts
                else:
                    ids, delay = order
                    buf.pts = ((n // len(ids)) * len(ids) + ids[n % len(ids)] + delay) * duration
                buf.duration = duration
                counter["n"] += 1
            return Gst.PadProbeReturn.OK

        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, stamp)


def _display_order(path: str) -> tuple[list[int], int]:
    """Display index of each access unit in decode order, from ``PATH.pts`` (one integer a line),
    and the reorder delay that keeps every pts at or after its dts."""
    with open(path + ".pts") as f:
        ids = [int(line) for line in f if line.strip()]
    if not ids:
        raise SystemExit(f"{path}.pts is empty")
    return ids, max(0, max(n - i for n, i in enumerate(ids)))


def _parse_mount(spec: str) -> tuple[str, str, int, dict[str, str]]:
    name, _, rest = spec.partition("=")
    path, _, tail = rest.rpartition("@")
    fps, *extra = tail.split(";")
    options = dict(item.partition("=")[::2] for item in extra)
    if not name or not path or not fps.isdigit():
        raise SystemExit(f"bad --mount {spec!r}: expected NAME=FILE.h264@FPS[;key=value...]")
    return name.strip("/"), path, int(fps), options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", default=[], help="NAME=FILE.h264@FPS[;codec=h265][;stamps=display][;sdp_framerate=0][;audio=aac|pcma][;sprop=B64,B64]")
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
        name, path, fps, options = _parse_mount(spec)
        factory = LoopingH264Factory(path, fps, options)
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
