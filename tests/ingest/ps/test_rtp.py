"""RTP depacketising: reorder, loss, duplicates, foreign SSRC, non-RTP floods."""

from __future__ import annotations

import logging

from ingest.ps.rtp import RtpDepacketizer, build_rtp, parse_rtp


def _pkt(seq: int, ssrc: int = 1234, payload: bytes | None = None) -> bytes:
    return build_rtp(payload if payload is not None else seq.to_bytes(2, "big"), seq=seq, timestamp=seq * 3600, ssrc=ssrc)


def test_parse_rtp_with_csrc_extension_and_padding() -> None:
    raw = bytes([0xB1, 0x60]) + (7).to_bytes(2, "big") + (90000).to_bytes(4, "big") + (42).to_bytes(4, "big")
    raw += b"CSRC" + b"\xbe\xde\x00\x01" + b"EXT!" + b"payload" + b"\x00\x00\x03"
    p = parse_rtp(raw)
    assert p is not None and (p.seq, p.timestamp, p.ssrc, p.payload_type, p.payload) == (7, 90000, 42, 96, b"payload")
    assert parse_rtp(b"\x00" * 20) is None and parse_rtp(b"short") is None


def test_reorder_wraparound_duplicates_and_loss() -> None:
    d = RtpDepacketizer(1234)
    out = []
    for seq in (65534, 0, 65535, 1, 1, 2, 65533):
        out += d.feed(_pkt(seq))
    assert [int.from_bytes(x, "big") for x in out] == [65534, 65535, 0, 1, 2]
    assert d.stats.duplicates == 2 and d.stats.reordered == 1
    # a packet that never comes is given up after the window
    d2 = RtpDepacketizer(None, window=4)
    got = []
    for seq in (10, 12, 13, 14, 15, 16):
        got += d2.feed(_pkt(seq))
    assert [int.from_bytes(x, "big") for x in got] == [10, 12, 13, 14, 15, 16] and d2.stats.lost == 1


def test_flood_of_foreign_and_garbage_packets_is_dropped_with_one_log_line(caplog) -> None:
    caplog.set_level(logging.WARNING)
    d = RtpDepacketizer(1234, name="34020000001320000001")
    for i in range(5000):
        assert d.feed(_pkt(i, ssrc=999)) == []
        assert d.feed(b"\x00garbage" * 10) == []
    assert d.feed(_pkt(0)) == [(0).to_bytes(2, "big")]
    assert d.stats.foreign_ssrc == 5000 and d.stats.not_rtp == 5000 and d.stats.packets == 1
    lines = [r for r in caplog.records if "34020000001320000001" in r.getMessage()]
    assert 1 <= len(lines) <= 2  # not one per packet
