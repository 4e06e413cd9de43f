"""Which engine a ready call goes to.

For now: the least-loaded healthy engine, except that calls sharing a static prompt prefix (a
system prompt, a document placed before the variables) stick to the engine that ran the prefix
first, while that engine is not much busier than the least-loaded one. The app-centric scheduler
replaces this behind the same function signature. No I/O here: the state comes in as data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parrot_backend.errors import EngineError

# A prefix shorter than this is not worth keeping calls together for.
MIN_AFFINITY_CHARS = 64


@dataclass(frozen=True)
class EngineView:
    """What placement knows of an engine."""

    id: str
    healthy: bool
    draining: bool
    in_flight: int


@dataclass(frozen=True)
class Placement:
    """The decision: an engine, and whether affinity chose it."""

    engine_id: str
    by_affinity: bool


def affinity_key(tenant: str, static_prefix: str) -> str | None:
    """A key naming a tenant's shared prefix, or None if the prefix is too short to matter."""
    if len(static_prefix) < MIN_AFFINITY_CHARS:
        return None
    return hashlib.sha256(f"{tenant}\x00{static_prefix}".encode()).hexdigest()[:24]


def place(
    engines: Sequence[EngineView],
    affinity: str | None,
    homes: Mapping[str, str],
    *,
    slack: int = 4,
    exclude: frozenset[str] = frozenset(),
) -> Placement:
    """Pick an engine for one call.

    ``homes`` maps affinity keys to the engine that first ran them; ``slack`` is how many more
    calls in flight the home may have than the least-loaded engine and still be chosen.
    ``exclude`` holds engines that already failed this call.
    """
    candidates = [e for e in engines if e.healthy and not e.draining and e.id not in exclude]
    if not candidates:
        raise EngineError("no healthy engine is available; add one with POST /v1/engines or --engine")
    least = min(candidates, key=lambda e: (e.in_flight, e.id))
    home_id = homes.get(affinity) if affinity else None
    home = next((e for e in candidates if e.id == home_id), None)
    if home is not None and home.in_flight <= least.in_flight + slack:
        return Placement(home.id, by_affinity=True)
    return Placement(least.id, by_affinity=False)
