"""FrameSelector (ingest/selector.py): which packets are decoded and which frames delivered.

The streams here are modelled the way cameras send them — packets in decode order, with
display-order pts; a decoder that returns frames in display order after a reorder delay —
and driven exactly as StreamReader drives the selector.
"""

from __future__ import annotations

import heapq

import pytest

from ingest.selector import CATCHUP, DECODE, SKIP, TAIL, FrameSelector


def camera_packets(fps: int, gop: int, bframes: int, seconds: float) -> list[tuple[int, bool]]:
    """(display index, keyframe) of each packet in decode order: closed GOPs, ``bframes`` B-frames
    between references (I/P sent before the B-frames displayed ahead of them)."""
    out: list[tuple[int, bool]] = []
    total = int(fps * seconds)
    for start in range(0, total, gop):
        end = min(start + gop, total)
        out.append((start, True))
        d = start + 1
        while d < end:
            ref = min(d + bframes, end - 1)
            out.append((ref, False))
            out.extend((b, False) for b in range(d, ref))
            d = ref + 1
    return out


def run(fps: int, gop: int, bframes: int, analysed_fps: float, seconds: float = 20.0, patrol: bool = False,
        ) -> tuple[list[int], dict[int, int], int]:
    """Drive a selector like StreamReader: returns delivered display indices, verdict counts, packets fed."""
    select = FrameSelector()
    interval, frame_s = 1.0 / analysed_fps, 1.0 / fps
    pending: list[int] = []  # the decoder's reorder buffer (display indices)
    delivered: list[int] = []
    verdicts = {DECODE: 0, SKIP: 0, TAIL: 0, CATCHUP: 0}
    fed = 0

    def out(d: int) -> None:
        if select.due(d / fps, interval, frame_s):
            delivered.append(d)

    for display, key in camera_packets(fps, gop, bframes, seconds):
        pts_s = display / fps
        select.packet(pts_s, key, fps)
        verdict = select.admit(key, interval, frame_s, patrol)
        verdicts[verdict] += 1
        if verdict != DECODE:
            continue
        fed += 1
        if key:  # closed GOP: everything before a keyframe comes out first
            while pending:
                out(heapq.heappop(pending))
        heapq.heappush(pending, display)
        if select.keyonly or len(pending) > bframes:
            out(heapq.heappop(pending))
    while pending:
        out(heapq.heappop(pending))
    return delivered, verdicts, fed


def steps(delivered: list[int]) -> list[int]:
    return [b - a for a, b in zip(delivered, delivered[1:])]


@pytest.mark.parametrize("bframes", [0, 1, 3])
@pytest.mark.parametrize(("fps", "gop", "analysed"), [(25, 50, 5), (25, 50, 7), (25, 25, 10), (10, 10, 5), (30, 60, 4)])
def test_every_step_is_within_one_source_frame_of_the_ideal(fps: int, gop: int, analysed: float, bframes: int) -> None:
    delivered, _, _ = run(fps, gop, bframes, analysed)
    ideal = fps / analysed
    assert len(delivered) >= 20 * analysed - 1
    assert all(abs(s - ideal) <= 1 for s in steps(delivered)), steps(delivered)
    # and on average exactly the analysed rate (the grid does not drift)
    assert abs((delivered[-1] - delivered[0]) / (len(delivered) - 1) - ideal) < 0.05


def test_delivered_frames_are_in_display_order_with_bframes() -> None:
    delivered, _, _ = run(25, 50, 3, 5)
    assert delivered == sorted(delivered)
    assert steps(delivered) == [5] * (len(delivered) - 1)  # 25/5 divides evenly: exact steps


def test_gop_tail_after_the_last_due_frame_is_not_decoded() -> None:
    # 10 fps, GOP 10, 5 analysed fps: frames 0,2,4,6,8 are due, so frame 9 of every GOP is never decoded
    delivered, verdicts, fed = run(10, 10, 0, 5, seconds=20)
    assert steps(delivered) == [2] * (len(delivered) - 1)
    assert verdicts[TAIL] >= 17  # from the third GOP on (the GOP length must be seen twice first)
    assert fed == 200 - verdicts[TAIL]


def test_interval_of_a_gop_or_more_decodes_keyframes_only() -> None:
    delivered, verdicts, fed = run(25, 25, 3, 1)
    # the first GOP is decoded in full (its length is known at the second keyframe), then only the 19 keyframes
    assert fed == verdicts[DECODE] == 25 + 19
    assert all(d % 25 == 0 for d in delivered[2:])
    assert steps(delivered[2:]) == [25] * (len(delivered) - 3)


def test_patrol_decodes_keyframes_only_from_the_first_packet() -> None:
    delivered, verdicts, fed = run(25, 50, 0, 1, seconds=10, patrol=True)
    assert fed == 5 and verdicts[SKIP] == 245
    assert delivered == [0, 50, 100, 150, 200]


def test_nothing_is_decoded_when_the_channel_is_off() -> None:
    select = FrameSelector()
    select.packet(0.0, True, 25)
    assert select.admit(True, 0.2, 0.04, patrol=False, off=True) == SKIP
    assert select.need_key


def test_falling_behind_drops_non_keyframes_until_caught_up() -> None:
    select = FrameSelector()
    assert select.lag(100.0, 0.0, catchup_lag_s=1.0) is False  # anchors the best latency
    assert select.lag(100.5, 0.4, catchup_lag_s=1.0) is False  # 0.1 s lag
    assert select.lag(102.0, 0.44, catchup_lag_s=1.0) is True  # 1.56 s behind: falls behind (once)
    assert select.behind and select.admit(False, 0.2, 0.04, patrol=False) == CATCHUP
    assert select.admit(True, 0.2, 0.04, patrol=False) == DECODE  # keyframes still decode
    assert select.lag(102.1, 0.5, catchup_lag_s=1.0) is False and select.behind  # still 1.6 s
    select.lag(102.2, 2.1, catchup_lag_s=1.0)  # caught up to 0.1 s
    assert not select.behind
    assert select.admit(False, 0.2, 0.04, patrol=False) == DECODE


def test_a_clock_jump_re_anchors_latency_instead_of_counting_as_lag() -> None:
    select = FrameSelector()
    select.lag(100.0, 1000.0, 1.0)
    assert select.lag(100.1, 1000.1 - 60.0, 1.0) is False and select.lag_s == 0.0  # camera clock jumped back a minute


def test_a_decoder_error_waits_for_the_next_keyframe() -> None:
    select = FrameSelector()
    select.packet(0.0, True, 25)
    assert select.admit(True, 0.2, 0.04, patrol=False) == DECODE
    assert select.admit(False, 0.2, 0.04, patrol=False) == DECODE
    select.decode_failed()
    assert select.admit(False, 0.2, 0.04, patrol=False) == SKIP
    assert select.admit(True, 0.2, 0.04, patrol=False) == DECODE


def test_frames_without_a_time_are_delivered_only_on_keyframe_only() -> None:
    select = FrameSelector()
    assert select.due(None, 0.2, 0.04) is False
    select.keyonly = True
    assert select.due(None, 0.2, 0.04) is True


def test_a_gap_or_a_clock_going_back_re_anchors_the_grid() -> None:
    select = FrameSelector()
    assert select.due(10.0, 0.2, 0.04)
    assert not select.due(10.04, 0.2, 0.04)
    assert select.due(10.2, 0.2, 0.04)
    assert select.due(15.0, 0.2, 0.04)  # 5 s gap (reconnect, dropped packets): due at once
    assert not select.due(15.04, 0.2, 0.04)
    assert select.due(3.0, 0.2, 0.04)  # the camera's clock went back 12 s: a new grid
    assert not select.due(3.04, 0.2, 0.04) and select.due(3.2, 0.2, 0.04)
