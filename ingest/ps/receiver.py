"""Receive PS/RTP on one media port: UDP, TCP passive (we listen) or TCP active (we connect).

TCP framing is RFC 4571: each RTP packet is preceded by its 2-byte big-endian length.
Whatever arrives goes through :class:`~ingest.ps.rtp.RtpDepacketizer` (SSRC filter,
reorder) and the ordered PS bytes are handed to ``on_data``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

from ingest.ps.rtp import RtpDepacketizer

log = logging.getLogger(__name__)

Mode = Literal["udp", "tcp-passive", "tcp-active"]
DataCallback = Callable[[bytes], None]


class _UdpProto(asyncio.DatagramProtocol):
    def __init__(self, owner: MediaReceiver) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner._feed(data)  # noqa: SLF001

    def error_received(self, exc: Exception) -> None:
        log.debug("GB28181 media UDP error: %s", exc)


class MediaReceiver:
    def __init__(self, mode: Mode, on_data: DataCallback, *, host: str = "0.0.0.0", port: int = 0,
                 ssrc: int | None = None, name: str = "") -> None:
        self.mode, self.host, self.port = mode, host, port
        self.on_data = on_data
        self.depacketizer = RtpDepacketizer(ssrc, name=name)
        self.name = name
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def stats(self):  # noqa: ANN201 - RtpStats
        return self.depacketizer.stats

    async def start(self) -> int:
        """Bind (UDP / TCP passive); returns the local port to offer in the SDP."""
        loop = asyncio.get_running_loop()
        if self.mode == "udp":
            transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProto(self), local_addr=(self.host, self.port))
            self._udp = transport  # type: ignore[assignment]
            self.port = transport.get_extra_info("sockname")[1]
        elif self.mode == "tcp-passive":
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def connect(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        """TCP active: connect to the device's media port from its SDP answer."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        self._spawn(self._read(reader, writer))

    def retarget(self, ssrc: int | None) -> None:
        self.depacketizer.retarget(ssrc)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._read(reader, writer)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readexactly(2)
                n = int.from_bytes(head, "big")
                if n == 0:
                    continue
                self._feed(await reader.readexactly(n))
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("GB28181 media %s: TCP peer %s closed", self.name, peer)
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()

    def _feed(self, data: bytes) -> None:
        for chunk in self.depacketizer.feed(data):
            try:
                self.on_data(chunk)
            except Exception:
                log.exception("GB28181 media %s: consumer failed", self.name)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except TimeoutError:
                pass
