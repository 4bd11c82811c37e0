"""Exponential back-off with jitter so thousands of channels never reconnect in lock-step."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float = 0.5
    max_s: float = 4.0
    factor: float = 2.0
    jitter: float = 0.5  # delay is drawn from [(1-jitter)*d, d]
    _attempt: int = field(default=0, init=False)
    _rng: random.Random = field(default_factory=random.Random, init=False, repr=False)

    def next_delay(self) -> float:
        base = min(self.max_s, self.initial_s * self.factor**self._attempt)
        self._attempt += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self._attempt = 0

    @property
    def attempts(self) -> int:
        return self._attempt
