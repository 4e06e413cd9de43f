"""The fallback placement: the least-loaded engine that can take a call.

The scheduler (:mod:`parrot_backend.scheduler.plan`) picks the first engine of a call; this picks
the next one when that engine fails mid-call, and serves requests that bypass the scheduler. No
I/O here: the state comes in as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parrot_backend.errors import EngineError


@dataclass(frozen=True)
class EngineView:
    """What placement knows of an engine."""

    id: str
    healthy: bool
    draining: bool
    in_flight: int

    @property
    def available(self) -> bool:
        return self.healthy and not self.draining


def least_loaded(engines: Sequence[EngineView], *, exclude: frozenset[str] = frozenset()) -> str:
    """The available engine with the fewest calls in flight, skipping ``exclude`` (engines that
    already failed this call); :class:`EngineError` if there is none."""
    candidates = [e for e in engines if e.available and e.id not in exclude]
    if not candidates:
        raise EngineError("no healthy engine is available; add one with POST /v1/engines or --engine")
    return min(candidates, key=lambda e: (e.in_flight, e.id)).id
