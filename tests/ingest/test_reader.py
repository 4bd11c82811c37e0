"""StreamReader against the real GStreamer RTSP server (sample footage, 10 fps, GOP 10)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ingest import ChannelSpec, Frame, ReaderOptions, StreamReader
from tests.ingest.helpers import StatusLog, wait_until
from xueliang.runtime import free_port


def _collect(spec: ChannelSpec, seconds: float, **kwargs) -> tuple[list[Frame], StreamReader, StatusLog]:
    frames: list[Frame] = []
    status = StatusLog()
    reader = StreamReader(spec, on_frame=frames.append, on_status=status, **kwargs)
    reader.start()
    try:
        assert wait_until(lambda: len(frames) > 0, 10), f"no frame within 10 s; states {status.states()}"
        time.sleep(seconds)
        n = len(frames)
    finally:
        assert reader.stop(3.0), "reader thread did not exit"
    return frames[:n], reader, status


def test_delivers_bgr_frames_at_the_analysed_fps(rtsp_server):
    frames, reader, status = _collect(ChannelSpec("cam01", rtsp_server.url("cam01"), fps=5), 3.0)
    assert status.states()[:2] == ["connecting", "online"]
    assert status.states()[-1] == "stopped"
    img = frames[0].image
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (360, 480, 3)
    assert img.std() > 10, "frame is blank: decode produced no picture"
    # 5 of the 10 source fps, spaced 0.2 s in stream time
    assert 12 <= len(frames) <= 19, len(frames)
    gaps = np.diff([f.pts_s for f in frames])
    assert np.allclose(gaps, 0.2, atol=0.011), gaps
    mono = [f.ts_monotonic for f in frames]
    assert all(b > a for a, b in zip(mono, mono[1:]))
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
    # every packet had to be decoded (P-frames chain) but only half converted
    assert reader.stats.frames_delivered < reader.stats.frames_decoded


def test_low_fps_decodes_only_keyframes(rtsp_server):
    frames, reader, _ = _collect(ChannelSpec("cam02", rtsp_server.url("cam02"), fps=1), 4.0)
    assert 3 <= len(frames) <= 6
    assert all(f.keyframe for f in frames[1:])
    # once the GOP (1 s) is measured, non-key packets never reach the decoder
    assert reader.stats.packets_decoded <= reader.stats.packets / 2, reader.stats


def test_patrol_mode_decodes_keyframes_only(rtsp_server):
    frames, reader, _ = _collect(ChannelSpec("cam03", rtsp_server.url("cam03"), mode="patrol", fps=10), 3.0)
    assert frames and all(f.keyframe for f in frames)
    keyframes_seen = reader.stats.packets_decoded
    assert keyframes_seen <= reader.stats.packets // 8 + 1, reader.stats
    assert reader.stats.decode_errors == 0


def test_set_spec_changes_rate_without_reconnecting(rtsp_server):
    frames: list[Frame] = []
    reader = StreamReader(ChannelSpec("cam04", rtsp_server.url("cam04"), mode="patrol", fps=1), on_frame=frames.append)
    with reader:
        assert wait_until(lambda: len(frames) >= 2, 10)
        reader.set_spec(ChannelSpec("cam04", rtsp_server.url("cam04"), mode="continuous", fps=10))
        n0 = len(frames)
        time.sleep(2.5)
        promoted = len(frames) - n0
    assert promoted >= 12, f"only {promoted} frames in 2.5 s after promotion to 10 fps"
    assert reader.stats.connects == 1


def test_unreachable_camera_goes_offline_and_backs_off():
    port = free_port()
    status = StatusLog()
    reader = StreamReader(
        ChannelSpec("dead", f"rtsp://127.0.0.1:{port}/x"),
        on_status=status,
        options=ReaderOptions(open_timeout_s=2, backoff_initial_s=0.2, backoff_max_s=1.0),
    )
    with reader:
        assert wait_until(lambda: status.first("offline") is not None, 5)
        time.sleep(2.5)
    _, event = status.first("offline")
    assert event.reason and "refused" in event.reason.lower()
    assert event.retry_in_s and 0.1 <= event.retry_in_s <= 0.2
    # back-off, not a busy loop: a handful of attempts in ~2.5 s
    assert 2 <= reader.stats.open_failures <= 8
    assert status.states() == ["connecting", "offline", "stopped"], "retries of a dead camera are silent"


def test_stop_is_prompt_and_callback_errors_do_not_kill_the_reader(rtsp_server):
    calls = []

    def bad(frame: Frame) -> None:
        calls.append(frame.seq)
        raise RuntimeError("consumer bug")

    reader = StreamReader(ChannelSpec("cam01", rtsp_server.url("cam01"), fps=5), on_frame=bad)
    reader.start()
    assert wait_until(lambda: len(calls) >= 3, 10)
    t = time.monotonic()
    assert reader.stop(2.0)
    assert time.monotonic() - t < 2.0
    assert reader.stats.callback_errors == len(calls)


def test_repr_and_status_never_show_the_password():
    spec = ChannelSpec("c", "rtsp://admin:s3cret@127.0.0.1:9/x")
    assert "s3cret" not in repr(spec) and "s3cret" not in spec.safe_url


@pytest.mark.parametrize("bad", [dict(id=""), dict(fps=0), dict(mode="sometimes"), dict(url="not a url")])
def test_channel_spec_rejects_bad_values(bad):
    args = dict(id="c", url="rtsp://127.0.0.1/x") | bad
    with pytest.raises(ValueError):
        ChannelSpec(**args)


def test_slow_consumer_triggers_keyframe_catch_up_instead_of_growing_lag(rtsp_server):
    """A consumer that can take only ~2 frames/s of a 10 fps request: latency stays bounded."""
    lags: list[float] = []
    reader: StreamReader

    def slow(frame: Frame) -> None:
        time.sleep(0.45)

    reader = StreamReader(ChannelSpec("cam04", rtsp_server.url("cam04"), fps=10), on_frame=slow)
    with reader:
        for _ in range(40):
            time.sleep(0.25)
            lags.append(reader.stats.lag_s)
    assert reader.stats.catchup_skipped > 0
    assert max(lags[8:]) < 3.0, f"lag kept growing: {lags}"


def test_udp_transport(rtsp_server):
    frames, reader, _ = _collect(ChannelSpec("cam02", rtsp_server.url("cam02"), fps=5, transport="udp"), 2.0)
    assert len(frames) >= 8 and frames[0].image.std() > 10


def test_frames_after_the_last_due_one_in_a_gop_are_not_decoded(rtsp_server):
    # 2 of 10 fps, GOP 1 s: due at .0 and .5 → .6–.9 of every GOP are never decoded
    frames, reader, _ = _collect(ChannelSpec("cam01", rtsp_server.url("cam01"), fps=2), 5.0)
    s = reader.stats
    assert s.tail_skipped >= 10, s  # 4 per GOP once two equal GOPs have been measured
    assert s.packets - 10 <= s.packets_decoded + s.tail_skipped <= s.packets, s  # (a partial first GOP is skipped too)
    assert 9 <= len(frames) <= 13
    gaps = np.diff([f.pts_s for f in frames])
    assert np.allclose(gaps, 0.5, atol=0.011), "skipping the tail must not cost a due frame"


def test_skip_loop_filter_option_changes_the_decoder():
    """Opt-in deblocking skip: the same first frame (read from the sample file) decodes slightly differently."""
    from tests.conftest import SAMPLE_H264

    def first_frame(options: ReaderOptions) -> np.ndarray:
        frames: list[Frame] = []
        reader = StreamReader(ChannelSpec("file", str(SAMPLE_H264), fps=1), on_frame=frames.append, options=options)
        with reader:
            assert wait_until(lambda: len(frames) >= 1, 10)
        return frames[0].image

    normal, fast = first_frame(ReaderOptions()), first_frame(ReaderOptions(skip_loop_filter=True))
    diff = np.abs(normal.astype(int) - fast).mean()
    assert 0 < diff < 3, diff


def test_gate_sees_the_luma_plane_and_output_size_converts_in_one_pass(rtsp_server):
    """The gate gets the Y plane (no BGR conversion); gated frames are never converted; the rest
    arrive at the detector's size."""
    seen: list[tuple[tuple[int, ...], str]] = []

    def gate(luma: np.ndarray, pts_s: float | None) -> bool:
        seen.append((luma.shape, str(luma.dtype)))
        return len(seen) % 2 == 0  # every other due frame "has motion"

    frames: list[Frame] = []
    reader = StreamReader(ChannelSpec("cam03", rtsp_server.url("cam03"), fps=5), on_frame=frames.append,
                          options=ReaderOptions(output_size=(320, 180)), gate=gate)
    with reader:
        assert wait_until(lambda: len(frames) >= 6, 10)
    assert seen[0] == ((360, 480), "uint8")
    assert all(f.image.shape == (180, 320, 3) for f in frames)
    assert reader.stats.gated >= len(frames) - 1 and reader.stats.gated + reader.stats.frames_delivered == len(seen)


def test_motion_gate_works_on_the_luma_plane_like_on_bgr():
    from analytics.gate import MotionGate

    import cv2

    rng = np.random.default_rng(1)
    base = rng.integers(60, 90, (360, 480, 3), dtype=np.uint8)
    moved = base.copy()
    moved[100:200, 150:260] = 230
    bgr_gate, luma_gate = MotionGate(), MotionGate()
    for i in range(8):
        for gate, conv in ((bgr_gate, lambda f: f), (luma_gate, lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))):
            gate.check(conv(base), float(i))
    r_bgr = bgr_gate.check(moved, 8.0)
    r_luma = luma_gate.check(cv2.cvtColor(moved, cv2.COLOR_BGR2GRAY), 8.0)
    assert r_bgr.motion and r_luma.motion
    assert r_luma.regions and abs(r_luma.regions[0][0] - 150) <= 8 and abs(r_luma.regions[0][2] - 260) <= 8
