"""One PyAV reader per channel, in its own thread: connect, demux, decode only what is needed, reconnect.

Why it looks like this:
- ``probesize``/``analyzeduration`` are lowered because the RTSP SDP already
  describes the stream; FFmpeg's default probing delays the first frame ~3–5 s.
- A live stream that ends (EOF) is a disconnect: PyAV reports a killed server
  as a normal end of stream, not an exception.
- Frames that would be thrown away are not decoded when the codec allows it:
  if the analysed interval is at least one GOP, or the channel is on patrol,
  only keyframes reach the decoder (``skip_frame = "NONKEY"``). Otherwise every
  packet must be decoded (P-frames reference each other) but only the frames
  that are due are converted to BGR, which is the expensive half.
- 401/403 means wrong credentials: report ``auth_failed`` and wait a long time
  instead of hammering the camera (cameras lock accounts after repeated failures).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import av.error
from av.video.reformatter import VideoReformatter
import numpy as np

from ingest.backoff import Backoff
from ingest.bitstream import inspect_keyframe
from ingest.channel import ChannelSpec, Mode, redact_url
from ingest.events import EncodedPacket, Frame, State, StatusEvent, StreamParams
from ingest.packets import PacketRing
from ingest.selector import CATCHUP, TAIL, FrameSelector
from ingest.timing import DisplayClock, RateMeter

log = logging.getLogger(__name__)
# Process-wide unique connection ids, so packets of two sessions never look continuous.
_SESSIONS = itertools.count(1)

FrameCallback = Callable[[Frame], None]
StatusCallback = Callable[[StatusEvent], None]
PacketCallback = Callable[[EncodedPacket], None]
ParamsCallback = Callable[[str, StreamParams], None]
# Called with a due frame's luma (Y) plane — a zero-copy uint8 HxW view, valid during the call —
# and its pts; False means "nothing to look at": the frame is neither converted nor delivered.
GateCallback = Callable[[np.ndarray, float | None], bool]


@dataclass(frozen=True)
class ReaderOptions:
    open_timeout_s: float = 5.0
    # RTSP socket I/O timeout. FFmpeg's RTSP demuxer gives up after about twice this
    # on a silent connection (measured: 3 s → ~6 s): "frozen camera → offline" < 10 s.
    # Also bounds connect + DESCRIBE on rtsp:// (open_timeout_s applies to other URLs).
    read_timeout_s: float = 3.0
    backoff_initial_s: float = 0.5
    # Small cap: a restarted camera/server must be streaming again within seconds;
    # the jitter (not a long cap) is what keeps thousands of channels apart.
    backoff_max_s: float = 4.0
    auth_retry_s: float = 300.0
    # A session shorter than this does not reset the back-off (stops flapping storms).
    stable_after_s: float = 10.0
    probesize: int = 32768
    analyzeduration_us: int = 0
    decoder_threads: int = 1  # many channels per process: one thread per decoder is the efficient choice
    decode: bool = True  # False: demux only (live-view relay, packet ring)
    # Overload: when decoding falls this far behind the stream clock, decode keyframes
    # only until caught up (fresh frames at a lower rate beat ever-staler frames).
    catchup_lag_s: float = 1.0
    # Opt-in: skip H.264 deblocking in the analysis decoder (~13 % less decode CPU,
    # slightly blockier pixels; fine for detection on sub-streams, not for evidence).
    skip_loop_filter: bool = False
    # Deliver frames at the detector's input size (width, height): YUV→BGR and the resize are
    # one swscale pass, instead of a full-size BGR frame the detector resizes again.
    output_size: tuple[int, int] | None = None


@dataclass
class ReaderStats:
    """Counters (monotonic since start). Read without locking; values are ints/floats."""

    packets: int = 0
    bytes: int = 0
    packets_decoded: int = 0
    keyframes_decoded: int = 0
    frames_decoded: int = 0
    frames_delivered: int = 0
    decode_errors: int = 0  # packets the decoder rejected
    corrupt_frames: int = 0  # frames the decoder concealed (flagged corrupt); never delivered
    tail_skipped: int = 0  # packets after the last due frame of a GOP, not decoded
    catchup_skipped: int = 0  # packets not decoded because the reader was behind (overload)
    lag_s: float = 0.0  # how far behind the stream clock the last packet was handled
    gated: int = 0  # due frames the gate found nothing in (not converted, not delivered)
    reordered_packets: int = 0  # packets whose pts is before the previous one's (B-frames in display order)
    decode_order_stamps: bool = False  # the camera stamps frames in decode order (live555 with B-frames)
    gop_s: float | None = None  # keyframe interval from the packets' key flags
    gop_frames: int | None = None  # packets from one keyframe to the next
    connects: int = 0
    disconnects: int = 0
    auth_failures: int = 0
    open_failures: int = 0  # failed connection attempts (any reason)
    callback_errors: int = 0
    last_frame_monotonic: float | None = None
    last_packet_monotonic: float | None = None
    online_since_monotonic: float | None = None


class StreamReader:
    """Read one channel in a background thread.

    ``on_frame`` receives decoded BGR frames at the channel's analysed fps,
    ``on_status`` receives state transitions, ``on_packet`` receives every
    encoded video packet (the tap for the relay and the pre-event ring).
    Callbacks run on the reader thread: keep them short.
    """

    def __init__(
        self,
        spec: ChannelSpec,
        on_frame: FrameCallback | None = None,
        on_status: StatusCallback | None = None,
        on_packet: PacketCallback | None = None,
        on_params: ParamsCallback | None = None,
        options: ReaderOptions | None = None,
        packet_ring: PacketRing | None = None,
        gate: GateCallback | None = None,
    ) -> None:
        self._spec = spec
        self.gate = gate
        self.on_frame = on_frame
        self.on_status = on_status
        self.on_packet = on_packet
        self.on_params = on_params
        self.packet_ring = packet_ring
        self.options = options or ReaderOptions()
        self.stats = ReaderStats()
        self.params: StreamParams | None = None
        self._state: State = "stopped"
        self._reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)
        self._session = 0
        self._reconnect_requested = False
        # One swscale context per reader, kept between frames (``VideoFrame.reformat`` builds and frees
        # one per call, and with threads=0 starts a thread pool per call); one thread: many channels
        # per process. Pixels are the same as ``to_ndarray(format="bgr24")``.
        self._reformat = VideoReformatter().reformat

    # ---- public API -------------------------------------------------------------
    @property
    def spec(self) -> ChannelSpec:
        return self._spec

    @property
    def channel_id(self) -> str:
        return self._spec.id

    @property
    def state(self) -> State:
        return self._state

    @property
    def reason(self) -> str | None:
        return self._reason

    def set_spec(self, spec: ChannelSpec) -> None:
        """Change fps/mode live (e.g. patrol → continuous on an incident). A URL change reconnects."""
        if spec.id != self._spec.id:
            raise ValueError(f"set_spec: channel id {spec.id!r} != {self._spec.id!r}")
        reconnect = spec.url != self._spec.url or spec.transport != self._spec.transport
        self._spec = spec
        if reconnect:
            self._reconnect_requested = True

    def start(self) -> "StreamReader":
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{self._spec.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 2.0) -> bool:
        """Ask the thread to close its connection and exit; returns True if it has."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def request_stop(self) -> None:
        """Non-blocking stop (to stop many readers in parallel, then :meth:`join`)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "StreamReader":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals --------------------------------------------------------------
    def _emit(self, state: State, reason: str | None = None, retry_in_s: float | None = None) -> None:
        if state == self._state and reason == self._reason:
            return
        self._state, self._reason = state, reason
        if state == "online":
            self.stats.online_since_monotonic = time.monotonic()
        elif state in ("offline", "auth_failed", "stopped"):
            self.stats.online_since_monotonic = None
        log.info("channel %s: %s%s", self._spec.id, state, f" ({reason})" if reason else "")
        if self.on_status is not None:
            try:
                self.on_status(StatusEvent(self._spec.id, state, reason, retry_in_s=retry_in_s))
            except Exception:  # a broken consumer must not kill ingest
                self.stats.callback_errors += 1
                log.exception("channel %s: on_status callback failed", self._spec.id)

    def _run(self) -> None:
        try:
            self._emit("connecting")
            while not self._stop.is_set():
                try:
                    delay = self._session_once()
                except Exception:  # a bug must not silence a camera for good: log, back off, retry
                    log.exception("channel %s: unexpected reader error", self._spec.id)
                    delay = self._backoff.next_delay()
                    self._emit("offline", "internal error (see log)", delay)
                if self._stop.is_set():
                    break
                if delay > 0:
                    self._stop.wait(delay)
                    # Retries of an offline camera are silent: thousands of dead cameras
                    # must not flood operators with connecting/offline pairs every few
                    # seconds. The next event is "online", or "offline" with a new reason.
                    if not self._stop.is_set() and self._state not in ("offline", "auth_failed"):
                        self._emit("connecting")
        finally:
            self._emit("stopped")

    def _session_once(self) -> float:
        """One connection: open, read until error/EOF/stop. Returns how long to wait before the next try."""
        spec = self._spec
        self._reconnect_requested = False
        try:
            container = _open(spec, self.options)
        except Exception as exc:  # 401, connection refused, timeout, 404, DNS...
            state, reason = classify_open_error(exc, spec)
            self.stats.open_failures += 1
            if state == "auth_failed":
                self.stats.auth_failures += 1
                retry = self.options.auth_retry_s
            else:
                retry = self._backoff.next_delay()
            self._emit(state, reason, retry)
            return retry

        started = time.monotonic()
        self.stats.connects += 1
        self._session = next(_SESSIONS)
        reason = "end of stream (server closed the connection)"
        try:
            if not container.streams.video:
                retry = self._backoff.next_delay()
                self._emit("offline", "no video stream in source", retry)
                return retry
            stream = container.streams.video[0]
            cc = stream.codec_context
            cc.thread_count = self.options.decoder_threads
            if self.options.skip_loop_filter:
                cc.options = {"skip_loop_filter": "all"}  # read when the decoder opens (first decode)
            self._set_params(_params_of(stream))
            reason = self._read_loop(container, stream)
        except Exception as exc:
            reason = _describe(exc)
        finally:
            try:
                container.close()
            except Exception:  # closing a broken connection may itself fail; nothing to do
                pass
            self.stats.disconnects += 1
        if self._stop.is_set():
            return 0.0
        if time.monotonic() - started >= self.options.stable_after_s:
            self._backoff.reset()
        if self._reconnect_requested:
            self._emit("connecting", "reconfigured")
            return 0.0
        retry = self._backoff.next_delay()
        self._emit("offline", reason, retry)
        return retry

    def _read_loop(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> str:
        cc = stream.codec_context
        tb = stream.time_base or Fraction(1, 90000)
        # plain int/float arithmetic per packet (Fraction arithmetic costs microseconds); x * num / den
        # rounds like float(x * tb)
        tb_num, tb_den = tb.numerator, tb.denominator
        ring = self.packet_ring
        taps = [t for t in (self.on_packet, ring.push if ring is not None else None) if t is not None]
        session = self._session
        tracker = _ParamsTracker(self.params or _params_of(stream))
        clock = DisplayClock()
        select = FrameSelector()
        last_pts: int | None = None
        stats = self.stats
        stop = self._stop
        monotonic = time.monotonic
        decode = cc.decode
        for packet in container.demux(stream):
            if stop.is_set() or self._reconnect_requested:
                return "stopped"
            size = packet.size
            if size == 0:
                continue
            now = monotonic()
            if self._state != "online":
                self._emit("online")
            stats.packets += 1
            stats.bytes += size
            stats.last_packet_monotonic = now
            pts = packet.pts
            if pts is None:
                pts = packet.dts
            is_key = packet.is_keyframe
            params = tracker.params
            data = bytes(packet) if is_key and (taps or not params.verified) else None
            if is_key and not params.verified:
                changed = tracker.update(data, None, False)
                if changed is not None:
                    self._set_params(changed)
            if pts is None:
                if last_pts is not None:
                    pts = last_pts + (packet.duration or 0)
                elif not tracker.params.reorder:
                    pts = 0  # FFmpeg's RTP timeline starts at the session's first packet, which it leaves unstamped
                # else unknown: a B-frame stream's first keyframe displays some frames after its decode time
            reordered = False
            if pts is not None:
                if last_pts is not None and pts < last_pts and not is_key:
                    stats.reordered_packets += 1  # B-frames stamped in display order
                    reordered = not tracker.params.reorder
                last_pts = pts
            pts_s = pts * tb_num / tb_den if pts is not None else None
            if reordered or tracker.wants_pts:
                changed = tracker.update(None, pts_s, stats.reordered_packets > 0)
                if changed is not None:
                    self._set_params(changed)
            fps = tracker.params.fps
            select.packet(pts_s, is_key, fps)
            if is_key:
                stats.gop_s, stats.gop_frames = select.gop_s, select.gop_frames
            if taps:
                encoded = EncodedPacket(self._spec.id, data if data is not None else bytes(packet), pts, packet.dts,
                                        packet.duration, tb, is_key, now, session)
                for tap in taps:
                    self._safe(tap, encoded)
            if not self.options.decode or self.on_frame is None:
                continue

            if pts_s is not None and select.lag(now, pts_s, self.options.catchup_lag_s):
                log.warning("channel %s: %.1f s behind the stream, decoding keyframes only until caught up",
                            self._spec.id, select.lag_s)
            stats.lag_s = select.lag_s
            spec = self._spec
            interval = 1.0 / spec.fps
            frame_s = 1.0 / fps if fps else min(interval, 0.04)
            keyonly = select.keyonly
            verdict = select.admit(is_key, interval, frame_s, spec.mode == "patrol", spec.mode == "off")
            if select.keyonly != keyonly:
                keyonly = select.keyonly
                cc.skip_frame = "NONKEY" if keyonly else "DEFAULT"
            if verdict:
                if verdict == TAIL:
                    stats.tail_skipped += 1
                elif verdict == CATCHUP:
                    stats.catchup_skipped += 1
                continue
            try:
                stats.packets_decoded += 1
                stats.keyframes_decoded += is_key
                clock.fed(pts)
                frames = decode(packet)
                if keyonly:
                    # a reordering decoder holds a keyframe back until more frames come: drain it now
                    frames += decode(None)
                    cc.flush_buffers()
            except av.error.FFmpegError as exc:
                stats.decode_errors += 1
                select.decode_failed()
                cc.flush_buffers()
                clock.reset()
                log.debug("channel %s: decode error %s", spec.id, exc)
                continue
            if not frames:
                continue
            frame_ticks = int(frame_s * tb_den / tb_num)
            for vf in frames:
                stats.frames_decoded += 1
                display = clock.output(vf.pts, frame_ticks)
                if vf.is_corrupt:
                    # concealed garbage would feed false detections; the next frames are
                    # usually clean again (the decoder heals at the next keyframe at worst)
                    stats.corrupt_frames += 1
                    continue
                frame_pts_s = display * tb_num / tb_den if display is not None else None
                if select.due(frame_pts_s, interval, frame_s):
                    stats.decode_order_stamps = clock.decode_order
                    self._deliver(vf, frame_pts_s)
        return "end of stream (server closed the connection)"

    def _deliver(self, vf: av.VideoFrame, pts_s: float | None) -> None:
        stats = self.stats
        if self.gate is not None and vf.format.name in _PLANAR_YUV:
            plane = vf.planes[0]
            luma = np.frombuffer(memoryview(plane), np.uint8).reshape(vf.height, plane.line_size)[:, : vf.width]
            if not self._safe_gate(luma, pts_s):
                stats.gated += 1
                return
        size = self.options.output_size
        if size is not None and (vf.width, vf.height) != size:
            image = self._reformat(vf, width=size[0], height=size[1], format="bgr24", threads=1).to_ndarray()
        else:
            image = self._reformat(vf, format="bgr24", threads=1).to_ndarray()
        stats.frames_delivered += 1
        stats.last_frame_monotonic = time.monotonic()
        if self.on_frame is not None:
            self._safe(
                self.on_frame,
                Frame(self._spec.id, image, stats.last_frame_monotonic, time.time(), pts_s, bool(vf.key_frame), stats.frames_delivered),
            )

    def _safe_gate(self, luma: np.ndarray, pts_s: float | None) -> bool:
        try:
            return bool(self.gate(luma, pts_s))  # type: ignore[misc]
        except Exception:  # a broken gate must not blind the channel: deliver
            self.stats.callback_errors += 1
            log.exception("channel %s: gate callback failed", self._spec.id)
            return True

    def _set_params(self, params: StreamParams) -> None:
        self.params = params
        if self.packet_ring is not None:
            self.packet_ring.set_params(params)
        if self.on_params is not None:
            self._safe(self.on_params, self._spec.id, params)

    def _safe(self, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("channel %s: callback %s failed", self._spec.id, getattr(fn, "__name__", fn))


class _ParamsTracker:
    """Stream parameters refreshed from what the camera actually sends (see ingest/bitstream.py).

    The first keyframe that decodes (with its in-band parameter sets when it has
    them) fixes size, extradata, profile and reordering; the frame rate comes from
    its SPS timing, else from the packet spacing.
    """

    MAX_ATTEMPTS = 10  # keyframes tried before giving up on verifying (a broken camera keeps the SDP's values)

    def __init__(self, params: StreamParams) -> None:
        self.params = params
        self._attempts = 0
        self._meter: RateMeter | None = None
        self._rate_from_sps = False

    @property
    def wants_pts(self) -> bool:
        return self._meter is not None

    def update(self, keyframe: bytes | None, pts_s: float | None, reordered: bool) -> StreamParams | None:
        """Feed a keyframe (or, while the rate is being measured, any packet's pts); the new params if they changed."""
        before = self.params
        if keyframe is not None and not self.params.verified and self._attempts < self.MAX_ATTEMPTS:
            self._attempts += 1
            info = inspect_keyframe(self.params.codec_name, keyframe, self.params.extradata)
            if info is not None:
                self._rate_from_sps = info.fps is not None
                self.params = replace(self.params, width=info.width, height=info.height, extradata=info.extradata,
                                      fps=info.fps or self.params.fps, reorder=info.reorder or self.params.reorder,
                                      profile=info.profile, verified=True)
                if not self._rate_from_sps:
                    self._meter = RateMeter()
        if self._meter is not None and pts_s is not None:
            rate = self._meter.add(pts_s)
            if rate is not None:
                self._meter = None
                self.params = replace(self.params, fps=round(rate, 3))
        if reordered and not self.params.reorder:
            self.params = replace(self.params, reorder=True)
        return self.params if self.params != before else None


_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"}


def _params_of(stream: av.video.stream.VideoStream) -> StreamParams:
    """Parameters as the SDP announces them. Not ``guessed_rate``: without ``a=framerate`` FFmpeg
    guesses the SPS field rate (2x); the decoder's rate comes from the SPS timing itself."""
    cc = stream.codec_context
    rate = cc.framerate if cc.framerate and 1 <= float(cc.framerate) <= 240 else stream.average_rate
    return StreamParams(
        codec_name=cc.name,
        width=cc.width,
        height=cc.height,
        extradata=bytes(cc.extradata) if cc.extradata else None,
        time_base=stream.time_base or Fraction(1, 90000),
        fps=float(rate) if rate else None,
    )


def open_options(spec: ChannelSpec, options: ReaderOptions) -> dict[str, str]:
    """FFmpeg options for opening ``spec``: transport, fast start, video only."""
    if not spec.url.startswith(("rtsp://", "rtsps://")):
        return {}
    return {
        "rtsp_transport": spec.transport,
        "probesize": str(options.probesize),
        "analyzeduration": str(options.analyzeduration_us),
        "allowed_media_types": "video",
        # FFmpeg's own socket I/O timeout (µs). Unlike PyAV's ``timeout=`` (a Python
        # interrupt callback that takes the GIL on every poll: ~10 % more CPU per
        # channel with many channels), it costs nothing while data flows.
        "timeout": str(int(options.read_timeout_s * 1_000_000)),
    }


def _open(spec: ChannelSpec, options: ReaderOptions) -> av.container.InputContainer:
    if spec.url.startswith(("rtsp://", "rtsps://")):
        return av.open(spec.url, options=open_options(spec, options))
    if "/gb28181/" in spec.url and spec.url.endswith(".ps"):
        # A GB/T 28181 channel via the GB worker's PS endpoint (ingest/ps/http.py): the format is
        # known, and the endpoint starts each reader at a keyframe, so a short probe suffices.
        return av.open(spec.url, format="mpeg", options={"probesize": "262144", "analyzeduration": "400000"},
                       timeout=(options.open_timeout_s, options.read_timeout_s))
    return av.open(spec.url, options=open_options(spec, options), timeout=(options.open_timeout_s, options.read_timeout_s))


def classify_open_error(exc: BaseException, spec: ChannelSpec) -> tuple[State, str]:
    """("auth_failed" | "offline", operator-facing reason) for an exception from ``av.open``."""
    if isinstance(exc, (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)):
        return "auth_failed", f"camera rejected the credentials ({type(exc).__name__}); check the user/password for {redact_url(spec.url)}"
    return "offline", _describe(exc)


def grab_keyframe(
    spec: ChannelSpec,
    options: ReaderOptions | None = None,
    cancel: threading.Event | None = None,
    max_wait_s: float = 6.0,
    seq: int = 0,
) -> tuple[Frame, StreamParams]:
    """A patrol visit: connect, decode the first keyframe only, disconnect.

    Raises the ``av.open`` error (classify with :func:`classify_open_error`),
    ``TimeoutError`` if no keyframe arrives within ``max_wait_s``, or
    ``InterruptedError`` if ``cancel`` is set.
    """
    options = options or ReaderOptions()
    container = _open(spec, options)
    try:
        if not container.streams.video:
            raise ValueError("no video stream in source")
        stream = container.streams.video[0]
        cc = stream.codec_context
        cc.thread_count = options.decoder_threads
        cc.skip_frame = "NONKEY"
        tb = stream.time_base or Fraction(1, 90000)
        deadline = time.monotonic() + max_wait_s
        for packet in container.demux(stream):
            if cancel is not None and cancel.is_set():
                raise InterruptedError("visit cancelled")
            if time.monotonic() > deadline:
                break
            if packet.size == 0 or not packet.is_keyframe:
                continue
            # a reordering (B-frame) decoder holds the keyframe back: drain it
            frames = cc.decode(packet) + cc.decode(None)
            cc.flush_buffers()
            for vf in frames:
                if vf.is_corrupt:
                    continue  # try the next keyframe
                image = vf.reformat(format="bgr24", threads=1).to_ndarray()  # threads=1: no pool per visit
                pts = vf.pts if vf.pts is not None else packet.pts if packet.pts is not None else packet.dts
                now = time.monotonic()
                return Frame(spec.id, image, now, time.time(), float(pts * tb) if pts is not None else None, True, seq), _params_of(stream)
        raise TimeoutError(f"no keyframe within {max_wait_s:.0f} s")
    finally:
        container.close()


def _describe(exc: BaseException) -> str:
    """A short operator-facing reason without credentials."""
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or type(exc).__name__
        if isinstance(exc, (av.error.ExitError, av.error.TimeoutError)) or "Immediate exit" in text or "timed out" in text:
            return "timed out waiting for the camera"
        return text
    if isinstance(exc, TimeoutError):
        return "timed out waiting for the camera"
    return f"{type(exc).__name__}: {redact_url(str(exc))}"


def with_fps(spec: ChannelSpec, fps: float, mode: Mode | None = None) -> ChannelSpec:
    """Convenience for the scheduler: a copy of ``spec`` with another fps/mode."""
    return replace(spec, fps=fps, mode=mode or spec.mode)
