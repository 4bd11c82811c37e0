"""Pure functions of devices/gb28181 against values computed by hand or published in the standards."""

from __future__ import annotations

import pytest

from devices.gb28181 import ptz
from devices.gb28181.config import GbConfig
from devices.gb28181.digest import DigestVerifier, digest_response, parse_digest
from devices.gb28181.ids import GbIdError, is_region, ssrc_for, validate_id
from devices.gb28181.manscdp import ManscdpError, build, decode_body, parse
from devices.gb28181.sdp import build_offer, parse_answer


def test_digest_matches_the_rfc2617_example() -> None:
    # RFC 2617 section 3.5
    assert digest_response(username="Mufasa", realm="testrealm@host.com", password="Circle Of Life", method="GET",
                           uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth",
                           nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_verifier_challenge_and_refusals() -> None:
    v = DigestVerifier(realm="3402000000")
    ch = parse_digest(v.challenge())
    assert ch["algorithm"] == "MD5" and ch["qop"] == "auth" and ch["realm"] == "3402000000"
    resp = digest_response(username="d", realm="3402000000", password="p", method="REGISTER", uri="sip:3402000000",
                           nonce=ch["nonce"], qop="auth", nc="00000001", cnonce="abc")
    good = f'Digest username="d", realm="3402000000", nonce="{ch["nonce"]}", uri="sip:3402000000", response="{resp}", qop=auth, nc=00000001, cnonce="abc", algorithm=MD5'
    assert v.check(good, method="REGISTER", password="p") == (True, "")
    assert v.check(good, method="REGISTER", password="q") == (False, "wrong password")
    assert v.check(good.replace(ch["nonce"], "00" + ch["nonce"][2:]), method="REGISTER", password="p")[1] == "stale or foreign nonce"
    assert not DigestVerifier(realm="3402000000").check(good, method="REGISTER", password="p")[0]  # another process's nonce
    assert v.check("Basic Zm9v", method="REGISTER", password="p") == (False, "Authorization is not Digest")


def test_ptz_commands() -> None:
    assert ptz.ptz_cmd(ptz.UP, 0, 0xFA, address=1) == "A50F010800FA00B7"  # byte sum 0x1B7 -> B7
    assert ptz.STOP == "A50F0000000000B4"
    assert ptz.PtzMove(pan=-0x20, zoom=3).command() == "A50F001220003016"  # left 0x02 | zoom in 0x10; sum 0x116
    assert ptz.preset(ptz.PRESET_CALL, 3) == "A50F008200030039"
    with pytest.raises(ValueError):
        ptz.preset(ptz.PRESET_CALL, 0)
    with pytest.raises(ValueError):
        ptz.ptz_cmd(0x01, zoom=16)


def test_ids_and_ssrc() -> None:
    assert validate_id("34020000001320000001") == "34020000001320000001"
    for bad in ("3402000000132000000", "3402000000132000000x", ""):
        with pytest.raises(GbIdError):
            validate_id(bad)
    assert is_region("33") and is_region("33038110") and not is_region("330381101")
    assert ssrc_for("3402000000", 7) == "0200000007" and ssrc_for("3402000000", 12345, playback=True) == "1200002345"
    with pytest.raises(GbIdError):
        GbConfig(platform_id="123")
    cfg = GbConfig.from_env({"XUELIANG_GB28181_PASSWORD": "s", "XUELIANG_GB28181_PASSWORD_34020000001320000001": "d",
                             "XUELIANG_GB28181_PORT": "15060"})
    assert cfg.port == 15060 and cfg.password_for("34020000001320000001") == "d" and cfg.password_for("34020000001320000002") == "s"
    assert "password" not in repr(cfg)  # secrets stay out of reprs and logs


def test_manscdp_encodings_and_build() -> None:
    body = '<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Alarm</CmdType><SN>3</SN><DeviceID>1</DeviceID><AlarmDescription>塘下</AlarmDescription></Notify>'
    msg = parse(body.encode("gb2312"))
    assert msg.charset == "GB2312" and msg.text("AlarmDescription") == "塘下"
    msg = parse(body.encode("utf-8"))  # declared GB2312, sent as UTF-8 (common in practice)
    assert msg.text("AlarmDescription") == "塘下"
    assert decode_body(b'<?xml version="1.0" encoding="UTF-8"?><a/>') == ("<a/>", "UTF-8")
    out = build("Query", "Catalog", 9, "34020000001320000001", {"Name": "a<b"})
    assert out.startswith(b'<?xml version="1.0" encoding="GB2312"?>') and b"<Name>a&lt;b</Name>" in out
    assert parse(out).sn == 9
    with pytest.raises(ManscdpError):
        parse(b"\xff\xfe\x00garbage")


def test_sdp_offer_and_answer() -> None:
    offer = build_offer(channel_id="34020000001320000001", host="10.0.0.1", port=30000, ssrc="0200000001", mode="tcp-passive").decode()
    assert "m=video 30000 TCP/RTP/AVP 96 97 98" in offer and "a=setup:passive" in offer and "a=connection:new" in offer
    assert "a=recvonly" in offer and "a=rtpmap:96 PS/90000" in offer and offer.rstrip().endswith("y=0200000001")
    pb = build_offer(channel_id="34020000001320000001", host="10.0.0.1", port=30000, ssrc="1200000001", mode="udp",
                     playback=(1700000000, 1700000600), session="Playback").decode()
    assert "s=Playback" in pb and "u=34020000001320000001:0" in pb and "t=1700000000 1700000600" in pb
    ans = parse_answer(b"v=0\r\no=x 0 0 IN IP4 10.0.0.9\r\ns=Play\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=video 15060 TCP/RTP/AVP 96\r\na=setup:active\r\ny=0200000777\r\nf=v/2/4///a///\r\n")
    assert (ans.host, ans.port, ans.ssrc, ans.tcp, ans.setup) == ("10.0.0.9", 15060, "0200000777", True, "active")
    with pytest.raises(ValueError):
        parse_answer(b"v=0\r\nm=video x RTP/AVP 96\r\n")
