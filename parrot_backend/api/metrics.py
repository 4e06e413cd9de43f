"""Prometheus metrics of the backend, read from the pool and the registry at scrape time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from parrot_backend.engines.pool import EnginePool
from parrot_backend.runtime.registry import ProgramRegistry
from parrot_backend.runtime.scheduler import Scheduler


class _StateCollector(Collector):
    def __init__(self, pool: EnginePool, registry: ProgramRegistry, scheduler: Scheduler) -> None:
        self._pool, self._registry, self._scheduler = pool, registry, scheduler

    def collect(self) -> Iterator[Metric]:
        programs = GaugeMetricFamily("parrot_programs", "Programs held, by state.", labels=["state"])
        for state, count in Counter(run.state for run in self._registry.runs()).items():
            programs.add_metric([state], count)
        yield programs
        calls = GaugeMetricFamily("parrot_calls", "Calls of held programs, by state.", labels=["state"])
        states = Counter(r.state for run in self._registry.runs() for r in run.records.values())
        for state, count in states.items():
            calls.add_metric([state], count)
        yield calls
        tokens = GaugeMetricFamily(
            "parrot_held_prompt_tokens", "Prompt tokens of the finished calls of held programs.", labels=["kind"]
        )
        records = [r for run in self._registry.runs() for r in run.records.values()]
        tokens.add_metric(["prompt"], sum(r.prompt_tokens for r in records))
        tokens.add_metric(["cached"], sum(r.cached_tokens for r in records))
        yield tokens
        in_flight = GaugeMetricFamily("parrot_engine_in_flight", "Calls running on each engine.", labels=["engine"])
        healthy = GaugeMetricFamily(
            "parrot_engine_healthy", "1 if the engine passes its health check.", labels=["engine"]
        )
        for entry in self._pool.entries():
            in_flight.add_metric([entry.id], entry.in_flight)
            healthy.add_metric([entry.id], int(entry.healthy))
        yield in_flight
        yield healthy
        yield from self._scheduler_metrics()

    def _scheduler_metrics(self) -> Iterator[Metric]:
        stats = self._scheduler.stats
        queued = GaugeMetricFamily("parrot_queue_length", "Ready calls waiting for an engine.", labels=["objective"])
        for objective, count in self._scheduler.queue_lengths().items():
            queued.add_metric([objective], count)
        yield queued
        tokens = CounterMetricFamily(
            "parrot_prefill_tokens",
            "Prompt tokens of finished calls, and those the engines found cached.",
            labels=["kind"],
        )
        tokens.add_metric(["prompt"], stats.prompt_tokens)
        tokens.add_metric(["cached"], stats.cached_tokens)
        yield tokens
        hit = stats.cached_tokens / stats.prompt_tokens if stats.prompt_tokens else 0.0
        yield GaugeMetricFamily("parrot_cache_hit_rate", "Cached share of prompt tokens since start.", value=hit)
        chars = CounterMetricFamily(
            "parrot_prefill_chars",
            "Prompt characters: sent, computed (by the engines' cached-token share) and ideal (the prompts' trie).",
            labels=["kind"],
        )
        chars.add_metric(["sent"], stats.sent_chars)
        chars.add_metric(["computed"], stats.computed_chars)
        chars.add_metric(["ideal"], stats.ideal_chars)
        yield chars
        placed = CounterMetricFamily(
            "parrot_placements", "Calls placed, by the policy that chose the engine.", labels=["policy"]
        )
        for policy, count in sorted(stats.placed_by.items()):
            placed.add_metric([policy], count)
        yield placed
        yield CounterMetricFamily("parrot_warmups", "Prefill-only warm-ups of shared prefixes.", value=stats.warms)


class BackendMetrics:
    """The backend's metrics registry (one per app, so several apps can share a process)."""

    def __init__(self, pool: EnginePool, registry: ProgramRegistry, scheduler: Scheduler) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StateCollector(pool, registry, scheduler))
        self.programs_submitted = PromCounter("parrot_programs_submitted", "Programs accepted.", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
