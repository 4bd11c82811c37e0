"""The test's own device media side: PS (from GStreamer's mpegpsmux or the product's muxer) paced into RTP."""

from __future__ import annotations

import asyncio

from ingest.ps.mux import rfc4571, rtp_packets


class PsRtpSender:
    """Sends per-frame PS chunks as RTP at *fps*, over UDP or an open TCP stream (RFC 4571)."""

    def __init__(self, units: list[bytes], ssrc: int, fps: float = 10.0, loop_forever: bool = True) -> None:
        self.units, self.ssrc, self.fps, self.loop_forever = units, ssrc, fps, loop_forever
        self.sent = 0

    def _packets(self, i: int, seq: int) -> tuple[list[bytes], int]:
        return rtp_packets(self.units[i % len(self.units)], seq=seq, timestamp=int(i * 90000 / self.fps), ssrc=self.ssrc)

    async def udp(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=(host, port))
        try:
            await self._run(lambda pkts: [transport.sendto(p) for p in pkts], None)
        finally:
            transport.close()

    async def tcp(self, writer: asyncio.StreamWriter) -> None:
        try:
            await self._run(lambda pkts: writer.write(b"".join(rfc4571(p) for p in pkts)), writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _run(self, send, writer: asyncio.StreamWriter | None) -> None:  # noqa: ANN001
        seq, i = 1000, 0
        while self.loop_forever or i < len(self.units):
            pkts, seq = self._packets(i, seq)
            send(pkts)
            if writer is not None:
                await writer.drain()
            self.sent += 1
            i += 1
            await asyncio.sleep(1.0 / self.fps)
