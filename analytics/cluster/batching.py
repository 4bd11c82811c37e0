"""One batched detector per node, shared by all the node's shards.

Each shard already batches the moving frames of its own cameras; the node's detector
merges whatever requests of other shards are waiting at that moment into the same
inference call (no added wait: a request that finds the detector idle runs at once).
One model per node, not per shard, keeps memory and ONNX Runtime's threads bounded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Protocol

import numpy as np

from analytics.detector import Detections, FrameDetector

# What crosses the process boundary per frame: boxes, scores, classes (the names stay on each side).
RawDetections = tuple[np.ndarray, np.ndarray, np.ndarray]


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
