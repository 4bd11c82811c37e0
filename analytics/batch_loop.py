"""The batch loop: frames from the inbox → (gate) → dynamic batches across channels → pipeline → events.

A frame whose motion the reader already decided (its gate ran on the luma plane) is not gated again;
the rest (patrol keyframes, frames without a luma plane) are gated here. The moving frames are
gathered into one batch that runs when it reaches ``max_batch`` frames or its oldest frame has waited
``max_wait_ms`` (dynamic batching: the batch grows with the load, latency stays low when it is light).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from analytics.pipeline import Analysed, FrameIn, Pipeline
from analytics.rules import RuleEvent

log = logging.getLogger(__name__)

Emit = Callable[[Analysed, RuleEvent], None]


@dataclass(frozen=True)
class BatchConfig:
    max_batch: int = 8
    max_wait_ms: float = 60.0


class BatchLoop:
    """Collects frames into batches and hands each rule event to ``emit``; counts what it did."""

    def __init__(self, pipeline: Pipeline, config: BatchConfig, emit: Emit) -> None:
        self.pipeline = pipeline
        self.config = config
        self.emit = emit
        self.batches = 0
        self.batch_frames = 0
        self.failed_batches = 0
        self.inference_seconds = 0.0  # wall time of completed batches (detector + tracker + rules)
        self._pending: list[FrameIn] = []
        self._moving: list[bool] = []
        self._n_moving = 0
        self._first_moving_at: float | None = None

    @property
    def idle(self) -> bool:
        """No frame waits for its batch (reloads are applied only then)."""
        return not self._pending

    def timeout(self, idle_s: float = 0.2) -> float:
        """How long the caller may wait for more frames before :meth:`step` must run."""
        if self._first_moving_at is None:
            return idle_s
        return max(0.0, self._first_moving_at + self.config.max_wait_ms / 1000 - time.monotonic())

    def step(self, items: list[FrameIn]) -> None:
        """Add ``items`` (gating those not gated upstream); run the batch when it is due."""
        for item in items:
            m = self.pipeline.moving(item)
            self._pending.append(item)
            self._moving.append(m)
            if m:
                self._n_moving += 1
                if self._first_moving_at is None:
                    self._first_moving_at = time.monotonic()
        now = time.monotonic()
        waited = now - (self._first_moving_at or now)
        if self._pending and (self._n_moving == 0 or self._n_moving >= self.config.max_batch
                              or waited >= self.config.max_wait_ms / 1000):
            pending, moving, n_moving = self._pending, self._moving, self._n_moving
            self._pending, self._moving, self._n_moving, self._first_moving_at = [], [], 0, None
            self._complete(pending, moving, n_moving)

    def _complete(self, items: list[FrameIn], moving: list[bool], n_moving: int) -> None:
        if n_moving:
            self.batches += 1
            self.batch_frames += n_moving
        started = time.perf_counter()
        try:
            results = self.pipeline.complete(items, moving)
        except Exception:  # one bad batch must not take every camera down with the worker
            self.failed_batches += 1
            log.exception("analysis of a batch of %d frames failed; dropped", len(items))
            return
        finally:
            self.inference_seconds += time.perf_counter() - started
        for result in results:
            for event in result.events:
                try:
                    self.emit(result, event)
                except Exception:
                    log.exception("camera %s: alert for rule %s not published", result.frame.channel.camera_id, event.rule_id)

    def summary(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "mean_batch": round(self.batch_frames / self.batches, 2) if self.batches else 0,
            "failed_batches": self.failed_batches,
        }
