"""ReceiverFeedback (web/live/feedback.py): a stalled passthrough seen in the browser's RTCP.

The packets are aiortc's own RTCP types, round-tripped through their wire format as the
DTLS transport parses them. The end-to-end check (Chromium, a B-frame camera forced to
passthrough with the page's reports off) is in test_live_cameras.py.
"""

from __future__ import annotations

from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
)

from web.live.feedback import ReceiverFeedback

SSRC = 0x1234
BROWSER = 0x9999


def wire(packet):
    """As the transport hands it over: serialised by the browser, parsed by aiortc."""
    [parsed] = RtcpPacket.parse(bytes(packet))
    return parsed


def pli(ssrc: int = SSRC, fmt: int = RTCP_PSFB_PLI):
    return wire(RtcpPsfbPacket(fmt=fmt, ssrc=BROWSER, media_ssrc=ssrc))


def rr(fraction_lost: int, ssrc: int = SSRC):
    info = RtcpReceiverInfo(ssrc=ssrc, fraction_lost=fraction_lost, packets_lost=0, highest_sequence=1000,
                            jitter=0, lsr=0, dlsr=0)
    return wire(RtcpRrPacket(ssrc=BROWSER, reports=[info]))


def test_keyframe_requests_over_more_than_a_second_with_packets_arriving_are_a_stall() -> None:
    fb = ReceiverFeedback(SSRC)
    fb.note(rr(0), now=0.5)
    for t in (1.0, 1.2, 1.6, 2.1):  # Chromium asks about five times a second when it cannot decode
        fb.note(pli(), now=t)
    assert fb.stalled(now=2.1) and fb.plis == 4 and fb.receiver_reports == 1


def test_firs_count_like_plis() -> None:
    fb = ReceiverFeedback(SSRC)
    for t in (0.0, 0.4, 0.8, 1.2):
        fb.note(pli(fmt=RTCP_PSFB_FIR), now=t)
    assert fb.stalled(now=1.2)


def test_a_burst_at_start_up_is_not_a_stall() -> None:
    fb = ReceiverFeedback(SSRC)
    for t in (0.1, 0.2, 0.3, 0.4, 0.5):  # waiting for the first keyframe
        fb.note(pli(), now=t)
    assert not fb.stalled(now=0.5)
    assert not fb.stalled(now=4.0)  # and they age out of the window


def test_occasional_requests_are_not_a_stall() -> None:
    fb = ReceiverFeedback(SSRC)
    for t in (1.0, 3.0, 5.0, 7.0, 9.0):  # a lost keyframe now and then
        fb.note(pli(), now=t)
    assert not any(fb.stalled(now=t) for t in (1.0, 3.0, 5.0, 7.0, 9.0))


def test_requests_caused_by_packet_loss_are_not_this_stall() -> None:
    fb = ReceiverFeedback(SSRC)
    fb.note(rr(64), now=0.9)  # 25 % lost: the network, not the decoder
    for t in (1.0, 1.4, 1.8, 2.2):
        fb.note(pli(), now=t)
    assert not fb.stalled(now=2.2)
    fb.note(rr(0), now=2.3)  # the loss is gone and the requests go on
    fb.note(pli(), now=2.4)
    assert fb.stalled(now=2.4)


def test_feedback_about_another_stream_is_ignored() -> None:
    fb = ReceiverFeedback(SSRC)
    for t in (1.0, 1.4, 1.8, 2.2):
        fb.note(pli(ssrc=0x5678), now=t)
    fb.note(rr(200, ssrc=0x5678), now=2.3)
    assert fb.plis == 0 and fb.receiver_reports == 0 and not fb.stalled(now=2.3)
