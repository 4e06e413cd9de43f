"""One scheduling round as a pure function: the state in, a plan of which queued call goes to which
engine (and which prefixes to prefill first) out.

The runtime (:mod:`parrot_backend.runtime.scheduler`) builds the state, calls :func:`plan` whenever
something changes (a call is ready, a call or a warm-up ends) and executes the plan. Keeping the
decision free of I/O means every policy is tested on hand-built states and a run can be replayed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from parrot_backend.analysis.prefixes import PrefixTree, body_start
from parrot_backend.program.model import Objective
from parrot_backend.scheduler.policies import SchedulerConfig


@dataclass(frozen=True)
class EngineState:
    """An engine that can take calls, as the scheduler sees it."""

    id: str
    running: int = 0  # calls the scheduler has placed there and not seen end (warm-ups included)
    running_throughput: int = 0
    cached: PrefixTree = field(default_factory=PrefixTree)  # prompt keys run there (its cache, roughly)
    can_warm: bool = True  # takes prefill-only requests (SGLang's max_new_tokens: 0)


@dataclass(frozen=True)
class QueuedCall:
    """A call whose inputs are filled, waiting for an engine."""

    ticket: str  # unique among queued and running calls
    key: str  # its prompt key (see :func:`~parrot_backend.analysis.prefixes.prompt_key`)
    objective: Objective = "latency"
    seq: int = 0  # arrival order


@dataclass(frozen=True)
class SchedulerState:
    """Everything one round decides on."""

    engines: Sequence[EngineState]
    queue: Sequence[QueuedCall]
    latency_running: int = 0  # latency calls running anywhere


@dataclass(frozen=True)
class Dispatch:
    """Send ``ticket`` to ``engine``. ``policy`` says what chose the engine (``affinity``,
    ``replicate`` or ``least-loaded``); ``matched_chars`` is how much of the prompt the
    engine was known to hold; ``warm`` indexes the warm-up the call waits for, if any."""

    ticket: str
    engine: str
    policy: str
    matched_chars: int
    warm: int | None = None


@dataclass(frozen=True)
class Warm:
    """Prefill the first ``chars`` characters (past the tenant) of ``calls[0]``'s prompt on
    ``engine``, then release ``calls`` in this order (depth-first in their prefix tree)."""

    engine: str
    chars: int
    calls: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A round's decisions. Queued calls not named here stay queued."""

    dispatches: tuple[Dispatch, ...] = ()
    warms: tuple[Warm, ...] = ()


def plan(state: SchedulerState, config: SchedulerConfig) -> Plan:
    """Decide where the queued calls go (see :mod:`parrot_backend.scheduler.policies`)."""
    queue = _ordered(state.queue, config)
    load = {e.id: e.running for e in state.engines}
    batch = {e.id: e.running_throughput for e in state.engines}
    placed = {e.id: PrefixTree() for e in state.engines}  # keys sent there in this round
    latency_waiting = config.objectives and (state.latency_running > 0 or any(c.objective == "latency" for c in queue))
    dispatches: list[Dispatch] = []
    for call in queue:
        capped = latency_waiting and call.objective == "throughput"
        candidates = [e for e in state.engines if not capped or batch[e.id] < config.throughput_cap]
        if not candidates:
            continue
        start = body_start(call.key)
        matches = {
            e.id: max(e.cached.longest_match(call.key), placed[e.id].longest_match(call.key)) - start
            for e in candidates
        }
        engine, policy = _choose(candidates, load, matches, config)
        load[engine] += 1
        batch[engine] += call.objective == "throughput"
        placed[engine].insert(call.key, call.ticket)
        dispatches.append(Dispatch(call.ticket, engine, policy, max(matches[engine], 0)))
    if not config.warmup:
        return Plan(tuple(dispatches))
    return _with_warms(dispatches, {c.ticket: c.key for c in queue}, state.engines, config)


def _ordered(queue: Sequence[QueuedCall], config: SchedulerConfig) -> list[QueuedCall]:
    """Latency first (objectives), then arrival."""
    return sorted(queue, key=lambda c: (config.objectives and c.objective == "throughput", c.seq))


def _choose(
    candidates: Sequence[EngineState],
    load: Mapping[str, int],
    matches: Mapping[str, int],
    config: SchedulerConfig,
) -> tuple[str, str]:
    least = min(candidates, key=lambda e: (load[e.id], e.id)).id
    if config.affinity:
        best = min(candidates, key=lambda e: (-matches[e.id], load[e.id], e.id)).id
        # Affinity only where the prefix is worth it: the best engine holds at least
        # min_prefix_chars more of the prompt than the engine holding least of it (once a prefix
        # is replicated everywhere, its engines are equals and load decides).
        if matches[best] - min(matches.values()) >= config.min_prefix_chars:
            if load[best] <= load[least] + config.slack:
                return best, "affinity"
            return least, "replicate"
    return least, "least-loaded"


def _with_warms(
    dispatches: list[Dispatch], keys: Mapping[str, str], engines: Sequence[EngineState], config: SchedulerConfig
) -> Plan:
    """Add a warm-up wherever two or more calls sent to one engine share a prefix it does not hold
    (by at least ``min_prefix_chars``), taking the groups that save the most prefill first."""
    cached = {e.id: e.cached for e in engines if e.can_warm}
    warms: list[Warm] = []
    waits: dict[str, int] = {}
    for engine in dict.fromkeys(d.engine for d in dispatches if d.engine in cached):
        sent = [d.ticket for d in dispatches if d.engine == engine]
        if len(sent) < 2:
            continue
        tree = PrefixTree()
        for ticket in sent:
            tree.insert(keys[ticket], ticket)
        held = {t: max(cached[engine].longest_match(keys[t]) - body_start(keys[t]), 0) for t in sent}
        options = []
        for group in tree.groups(config.min_prefix_chars):
            new = group.chars - max(held[t] for t in group.calls)
            if new >= config.min_prefix_chars:
                options.append((-(len(group.calls) - 1) * new, group.chars, group.calls))
        for _, chars, calls in sorted(options):
            members = sorted((t for t in calls if t not in waits), key=keys.__getitem__)
            if len(members) >= 2:
                waits.update(dict.fromkeys(members, len(warms)))
                warms.append(Warm(engine, chars, tuple(members)))
    marked = tuple(Dispatch(d.ticket, d.engine, d.policy, d.matched_chars, waits.get(d.ticket)) for d in dispatches)
    return Plan(marked, tuple(warms))
