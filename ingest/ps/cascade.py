"""Media for the upper platform: PS over RTP from a GB channel (passthrough) or an RTSP camera (re-mux, no re-encode).

Each returns a :data:`devices.gb28181.cascade.MediaStarter`: called on the upper
platform's INVITE with the channel and its offer (address, port, SSRC, TCP), it
starts sending and returns the coroutine that stops it (on BYE).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable

import av

from devices.gb28181 import SdpAnswer
from ingest.ps.hub import GbMediaHub
from ingest.ps.mux import PsMuxer, rfc4571, rtp_packets

log = logging.getLogger(__name__)
Stop = Callable[[], Awaitable[None]]


class _RtpOut:
    """RTP towards the upper platform: UDP datagrams or one TCP connection with RFC 4571 framing."""

    def __init__(self, offer: SdpAnswer) -> None:
        self.offer = offer
        self.ssrc = int(offer.ssrc) if offer.ssrc.isdigit() else 0
        self.seq = 1
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        if self.offer.tcp:  # the upper platform listens (setup:passive): we connect
            _, self._writer = await asyncio.wait_for(asyncio.open_connection(self.offer.host, self.offer.port), 5.0)
        else:
            self._udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=(self.offer.host, self.offer.port))

    async def send(self, ps: bytes, timestamp: int) -> None:
        packets, self.seq = rtp_packets(ps, seq=self.seq, timestamp=timestamp, ssrc=self.ssrc)
        if self._writer is not None:
            self._writer.write(b"".join(rfc4571(p) for p in packets))
            await self._writer.drain()
        elif self._udp is not None:
            for p in packets:
                self._udp.sendto(p)

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()


def _spawn_sender(run: Callable[[], Awaitable[None]], cleanup: Callable[[], None]) -> Stop:
    task = asyncio.ensure_future(run())

    async def stop() -> None:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping: the reason was logged by the sender
            pass
        cleanup()
    return stop


def hub_starter(hub: GbMediaHub) -> Callable[[str, SdpAnswer], Awaitable[Stop]]:
    """Forward a GB channel's PS (as received from the device) to the upper platform."""
    async def start(channel_id: str, offer: SdpAnswer) -> Stop:
        consumer = await hub.subscribe(channel_id)
        out = _RtpOut(offer)
        await out.open()
        t0 = time.monotonic()

        async def run() -> None:
            while (chunk := await consumer.get()) is not None:
                await out.send(chunk, int((time.monotonic() - t0) * 90000))

        def cleanup() -> None:
            out.close()
            asyncio.ensure_future(consumer.close())
        return _spawn_sender(run, cleanup)
    return start


def remux_starter(url_of: Callable[[str], str], *, realtime: bool = True) -> Callable[[str, SdpAnswer], Awaitable[Stop]]:
    """Re-mux a camera's H.264/H.265 (RTSP, or an Annex-B file) into PS without re-encoding.

    ``realtime`` paces a file source by its timestamps (a live RTSP source paces itself).
    """
    async def start(channel_id: str, offer: SdpAnswer) -> Stop:
        url = url_of(channel_id)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue(maxsize=200)
        stop_flag = threading.Event()
        opened: asyncio.Future[None] = loop.create_future()

        def read() -> None:
            try:
                fmt = "h264" if url.endswith((".h264", ".264")) else "hevc" if url.endswith((".h265", ".hevc")) else None
                options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
                with av.open(url, format=fmt, options=options, timeout=(5.0, 5.0)) as c:
                    stream = c.streams.video[0]
                    codec = "hevc" if stream.codec_context.name == "hevc" else "h264"
                    mux = PsMuxer(codec)
                    loop.call_soon_threadsafe(lambda: opened.done() or opened.set_result(None))
                    rate = float(stream.average_rate or stream.guessed_rate or 25)
                    t0 = time.monotonic()
                    for n, pkt in enumerate(p for p in c.demux(stream) if p.size):
                        if stop_flag.is_set():
                            break
                        pts = int(pkt.pts * stream.time_base * 90000) if pkt.pts is not None and stream.time_base else int(n * 90000 / rate)
                        if realtime and fmt:  # raw files carry no clock: pace them
                            time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
                        ps = mux.mux(bytes(pkt), pts, bool(pkt.is_keyframe))
                        asyncio.run_coroutine_threadsafe(queue.put((ps, pts)), loop).result(timeout=10)
            except Exception as exc:  # noqa: BLE001 - reported to the INVITE or logged for a running session
                if stop_flag.is_set() or loop.is_closed():
                    return  # stopped (BYE) while handing a packet over: nothing to report
                log.warning("GB28181 cascade: source of %s ended: %s", channel_id, exc)
                err = LookupError(str(exc))
                loop.call_soon_threadsafe(lambda: opened.done() or opened.set_exception(err))
            finally:
                if not loop.is_closed():
                    try:
                        loop.call_soon_threadsafe(queue.put_nowait, None)
                    except RuntimeError:  # the loop closed meanwhile
                        pass

        threading.Thread(target=read, name=f"cascade-{channel_id}", daemon=True).start()
        await asyncio.wait_for(opened, 10.0)
        out = _RtpOut(offer)
        await out.open()

        async def run() -> None:
            while (item := await queue.get()) is not None:
                await out.send(item[0], item[1])

        def cleanup() -> None:
            stop_flag.set()
            out.close()
        return _spawn_sender(run, cleanup)
    return start
