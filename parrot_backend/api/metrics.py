"""Prometheus metrics of the backend, read from the pool and the registry at scrape time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from parrot_backend.engines.pool import EnginePool
from parrot_backend.runtime.registry import ProgramRegistry
from parrot_backend.runtime.scheduler import Scheduler


def _labelled(
    family: type[GaugeMetricFamily | CounterMetricFamily], name: str, doc: str, label: str, values: Mapping[str, float]
) -> Metric:
    """A metric family with one sample per ``values`` item, labelled ``label=key``."""
    metric = family(name, doc, labels=[label])
    for key, value in values.items():
        metric.add_metric([key], value)
    return metric


class _StateCollector(Collector):
    def __init__(self, pool: EnginePool, registry: ProgramRegistry, scheduler: Scheduler) -> None:
        self._pool, self._registry, self._scheduler = pool, registry, scheduler

    def collect(self) -> Iterator[Metric]:
        runs = self._registry.runs()
        records = [r for run in runs for r in run.records.values()]
        yield _labelled(
            GaugeMetricFamily, "parrot_programs", "Programs held, by state.", "state", Counter(r.state for r in runs)
        )
        yield _labelled(
            GaugeMetricFamily,
            "parrot_calls",
            "Calls of held programs, by state.",
            "state",
            Counter(r.state for r in records),
        )
        held = {"prompt": sum(r.prompt_tokens for r in records), "cached": sum(r.cached_tokens for r in records)}
        yield _labelled(
            GaugeMetricFamily,
            "parrot_held_prompt_tokens",
            "Prompt tokens of the finished calls of held programs.",
            "kind",
            held,
        )
        entries = self._pool.entries()
        in_flight = {e.id: e.in_flight for e in entries}
        yield _labelled(
            GaugeMetricFamily, "parrot_engine_in_flight", "Calls running on each engine.", "engine", in_flight
        )
        healthy = {e.id: int(e.healthy) for e in entries}
        yield _labelled(
            GaugeMetricFamily, "parrot_engine_healthy", "1 if the engine passes its health check.", "engine", healthy
        )
        yield from self._scheduler_metrics()

    def _scheduler_metrics(self) -> Iterator[Metric]:
        stats = self._scheduler.stats
        queued = self._scheduler.queue_lengths()
        yield _labelled(
            GaugeMetricFamily, "parrot_queue_length", "Ready calls waiting for an engine.", "objective", queued
        )
        tokens = {"prompt": stats.prompt_tokens, "cached": stats.cached_tokens}
        yield _labelled(
            CounterMetricFamily,
            "parrot_prefill_tokens",
            "Prompt tokens of finished calls, and those the engines found cached.",
            "kind",
            tokens,
        )
        hit = stats.cached_tokens / stats.prompt_tokens if stats.prompt_tokens else 0.0
        yield GaugeMetricFamily("parrot_cache_hit_rate", "Cached share of prompt tokens since start.", value=hit)
        chars = {"sent": stats.sent_chars, "computed": stats.computed_chars, "ideal": stats.ideal_chars}
        yield _labelled(
            CounterMetricFamily,
            "parrot_prefill_chars",
            "Prompt characters: sent, computed (by the engines' cached-token share) and ideal (the prompts' trie).",
            "kind",
            chars,
        )
        placed = dict(sorted(stats.placed_by.items()))
        yield _labelled(
            CounterMetricFamily,
            "parrot_placements",
            "Calls placed, by the policy that chose the engine.",
            "policy",
            placed,
        )
        yield CounterMetricFamily("parrot_warmups", "Prefill-only warm-ups of shared prefixes.", value=stats.warms)


class BackendMetrics:
    """The backend's metrics registry (one per app, so several apps can share a process)."""

    def __init__(self, pool: EnginePool, registry: ProgramRegistry, scheduler: Scheduler) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StateCollector(pool, registry, scheduler))
        self.programs_submitted = PromCounter("parrot_programs_submitted", "Programs accepted.", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
