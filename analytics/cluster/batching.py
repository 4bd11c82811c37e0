"""One batched detector per node, shared by all the node's shards, and the local socket frames travel by.

Each shard already batches the moving frames of its own cameras; the node's detector
merges whatever requests of other shards are waiting at that moment into the same
inference call (no added wait: a request that finds the detector idle runs at once).
One model per node, not per shard, keeps memory and ONNX Runtime's threads bounded.

Frames do not go through Ray: shard and detector are pinned to the same node, so a shard
sends each batch over the detector's Unix socket (raw pixels in, boxes out, a small binary
framing, no pickle). A Ray actor call cost ~4.8 ms of CPU per call plus ~0.7 ms per 480×360
frame (task submission on both sides, the raylet, the frames copied into the object store
and out), 6–8 % of the detection work; the socket costs two memory copies of the pixels.
Ray still places, names and restarts the detector; a shard asks the actor for the socket
path (which also waits for a restarting detector) and reconnects when the socket breaks.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import stat
import struct
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

import numpy as np

from analytics.detector import Detections, FrameDetector

# What crosses the process boundary per frame: boxes, scores, classes (the names stay on each side).
RawDetections = tuple[np.ndarray, np.ndarray, np.ndarray]

log = logging.getLogger(__name__)


class BatchingDetector:
    """Runs ``detector`` from one thread on the frames of concurrent :meth:`detect` callers, merged."""

    def __init__(self, detector: FrameDetector, max_batch: int = 16) -> None:
        self.detector = detector
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[list[np.ndarray], Future[list[RawDetections]]] | None] = queue.Queue()
        self.calls = 0
        self.frames = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._run, name="node-detector", daemon=True)
        self._thread.start()

    def detect(self, frames: Sequence[np.ndarray]) -> list[RawDetections]:
        fut: Future[list[RawDetections]] = Future()
        self._queue.put((list(frames), fut))
        return fut.result()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            n = len(first[0])
            while n < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
                n += len(nxt[0])
            frames = [f for frames, _ in batch for f in frames]
            try:
                dets = self.detector.detect(frames) if frames else []
            except Exception as exc:  # the callers' batches fail, the detector keeps serving
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            self.calls += 1
            self.frames += len(frames)
            self.requests += len(batch)
            i = 0
            for req_frames, fut in batch:
                part = dets[i : i + len(req_frames)]
                i += len(req_frames)
                fut.set_result([(d.xyxy, d.conf, d.cls) for d in part])

    def stats(self) -> dict[str, float]:
        return {"calls": self.calls, "frames": self.frames, "requests": self.requests,
                "mean_batch": round(self.frames / self.calls, 2) if self.calls else 0.0}

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(2.0)


class RemoteDetector:
    """Stands in for :class:`analytics.Detector` inside a shard: ``detect`` asks the node's detector actor."""

    def __init__(self, call: "DetectCall", names: dict[int, str]) -> None:
        self._call = call
        self.names = names

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not frames:
            return []
        return [Detections(xyxy, conf, cls, self.names) for xyxy, conf, cls in self._call(list(frames))]


class DetectCall(Protocol):
    def __call__(self, frames: list[np.ndarray]) -> list[RawDetections]: ...


# -- the node-local socket between shards and the node's detector ---------------------------------------------------
# Request:  b"XLD1", n (u32), n × (h, w, 3) (u32), then the n frames' uint8 BGR pixels, row-major.
# Answer:   b"XLD1", n (u32), n × k_i (u32), then per frame xyxy (k_i×4 f32), conf (k_i f32), cls (k_i i32);
#           or b"XLDE", length (u32), a UTF-8 message (the detector failed on this batch).
MAGIC, FAILED = b"XLD1", b"XLDE"
_HEAD = struct.Struct("<4sI")
_SHAPE = struct.Struct("<III")
MAX_FRAMES = 256
MAX_SIDE = 8192


def socket_dir() -> Path:
    """``$TMPDIR/xueliang-<uid>``, created 0700; refused when someone else owns it or can enter it."""
    path = Path(tempfile.gettempdir()) / f"xueliang-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(f"{path} must be a directory owned by uid {os.getuid()} with mode 0700")
    return path


def detector_socket_path(node_id: str) -> Path:
    return socket_dir() / f"detector-{node_id[:16]}.sock"


def remove_dead_sockets(directory: Path) -> int:
    """Delete the sockets of detectors gone with their cluster (killed actors leave them): those nobody
    listens on any more. Sockets of live detectors (other clusters on this machine) answer and stay."""
    removed = 0
    for path in directory.glob("detector-*.sock"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                path.unlink(missing_ok=True)
                removed += 1
            except OSError:  # busy or slow: not provably dead, keep it
                pass
    return removed


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    while view:
        n = sock.recv_into(view)
        if n == 0:
            raise ConnectionError("the peer closed the detector socket")
        view = view[n:]


def _recv(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    _recv_into(sock, memoryview(buf))
    return buf


class DetectorServer:
    """Serves ``batcher`` on a Unix socket (0600): one thread per connected shard, batches merged by the batcher."""

    def __init__(self, batcher: BatchingDetector, path: Path) -> None:
        self.batcher = batcher
        self.path = path
        path.unlink(missing_ok=True)  # a previous incarnation's socket (the actor restarted)
        remove_dead_sockets(path.parent)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        os.chmod(path, 0o600)
        self._listener.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, name="detector-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="detector-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while not self._closed:
                try:
                    frames = self._read_request(conn)
                except (ConnectionError, OSError, ValueError) as exc:
                    if not isinstance(exc, ConnectionError):
                        log.warning("detector socket: bad request, connection closed (%s)", exc)
                    return
                try:
                    dets = self.batcher.detect(frames)
                except Exception as exc:  # the shard's batch fails, the connection and the detector carry on
                    msg = f"{type(exc).__name__}: {exc}".encode()[:4000]
                    conn.sendall(_HEAD.pack(FAILED, len(msg)) + msg)
                    continue
                try:
                    conn.sendall(_encode_answer(dets))
                except OSError:
                    return

    @staticmethod
    def _read_request(conn: socket.socket) -> list[np.ndarray]:
        magic, n = _HEAD.unpack(_recv(conn, _HEAD.size))
        if magic != MAGIC or not 0 < n <= MAX_FRAMES:
            raise ValueError(f"header {magic!r} n={n}")
        shapes = list(_SHAPE.iter_unpack(_recv(conn, _SHAPE.size * n)))
        frames = []
        for h, w, c in shapes:
            if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE and c == 3):
                raise ValueError(f"frame shape {(h, w, c)}")
            frame = np.empty((h, w, c), np.uint8)
            _recv_into(conn, frame.data.cast("B"))
            frames.append(frame)
        return frames

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.path.unlink(missing_ok=True)


def _encode_answer(dets: list[RawDetections]) -> bytes:
    parts = [_HEAD.pack(MAGIC, len(dets)), struct.pack(f"<{len(dets)}I", *(len(conf) for _, conf, _ in dets))]
    for xyxy, conf, cls in dets:
        parts += [np.ascontiguousarray(xyxy, np.float32).tobytes(), np.ascontiguousarray(conf, np.float32).tobytes(),
                  np.ascontiguousarray(cls, np.int32).tobytes()]
    return b"".join(parts)


class SocketDetectCall:
    """A shard's :class:`DetectCall` over the node detector's socket; ``endpoint()`` gives its path (and waits
    for a restarting detector). A broken connection is reopened once per call before the call fails."""

    def __init__(self, endpoint: Callable[[], str], timeout_s: float = 30.0) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __call__(self, frames: list[np.ndarray]) -> list[RawDetections]:
        with self._lock:
            for attempt in (0, 1):
                try:
                    return self._roundtrip(self._connected(), frames)
                except OSError:  # ConnectionError included: the detector restarted or went away
                    self.close()
                    if attempt:
                        raise
            raise AssertionError("unreachable")

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout_s)
            try:
                sock.connect(self._endpoint())
            except BaseException:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    @staticmethod
    def _roundtrip(sock: socket.socket, frames: list[np.ndarray]) -> list[RawDetections]:
        pixels = [np.ascontiguousarray(f, np.uint8) for f in frames]
        if any(p.ndim != 3 or p.shape[2] != 3 for p in pixels):
            raise ValueError("the node detector takes BGR frames (h, w, 3)")
        head = [_HEAD.pack(MAGIC, len(pixels))] + [_SHAPE.pack(*p.shape) for p in pixels]
        sock.sendall(b"".join(head))
        for p in pixels:
            sock.sendall(p.data.cast("B"))
        magic, n = _HEAD.unpack(_recv(sock, _HEAD.size))
        if magic == FAILED:
            raise RuntimeError(f"node detector: {_recv(sock, n).decode(errors='replace')}")
        if magic != MAGIC or n != len(pixels):
            raise ConnectionError(f"unexpected answer from the node detector ({magic!r}, {n} of {len(pixels)})")
        counts = struct.unpack(f"<{n}I", _recv(sock, 4 * n))
        out: list[RawDetections] = []
        for k in counts:
            raw = _recv(sock, k * 24)
            xyxy = np.frombuffer(raw, np.float32, k * 4, 0).reshape(k, 4)
            conf = np.frombuffer(raw, np.float32, k, k * 16)
            cls = np.frombuffer(raw, np.int32, k, k * 20)
            out.append((xyxy, conf, cls))
        return out

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
