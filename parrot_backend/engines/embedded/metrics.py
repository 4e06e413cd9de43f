"""Prometheus metrics of the embedded engine, under SGLang's metric names.

Values are read from :meth:`EmbeddedEngine.stats` at scrape time, so there is one set of counters
(the engine's) and dashboards built for SGLang runtimes read the embedded engine unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from parrot_backend.engines.embedded.engine import EngineStats


class EngineCollector(Collector):
    """Exposes one engine's counters and gauges."""

    def __init__(self, stats: Callable[[], EngineStats], model_name: str) -> None:
        self._stats = stats
        self._labels = {"model_name": model_name}

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        counters = {
            "sglang:prompt_tokens": ("Prompt tokens received.", stats.prompt_tokens),
            "sglang:cached_tokens": ("Prompt tokens served from the prefix cache.", stats.cached_tokens),
            "sglang:generation_tokens": ("Tokens generated.", stats.generation_tokens),
            "sglang:num_requests": ("Requests received.", stats.requests),
        }
        for name, (documentation, value) in counters.items():
            yield self._family(CounterMetricFamily, name, documentation, value)
        hit_rate = stats.cached_tokens / stats.prompt_tokens if stats.prompt_tokens else 0.0
        gauges = {
            "sglang:num_running_reqs": ("Requests being prefilled or decoded.", stats.running),
            "sglang:num_queue_reqs": ("Requests waiting to be scheduled.", stats.queued),
            "sglang:cache_hit_rate": ("Cached over received prompt tokens, since start.", hit_rate),
        }
        for name, (documentation, value) in gauges.items():
            yield self._family(GaugeMetricFamily, name, documentation, value)

    def _family(self, cls: type, name: str, documentation: str, value: float) -> Metric:
        family = cls(name, documentation, labels=list(self._labels))
        family.add_metric(list(self._labels.values()), value)
        return family


def render_metrics(stats: Callable[[], EngineStats], model_name: str) -> bytes:
    """The Prometheus text exposition of one engine's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(stats, model_name))
    return generate_latest(registry)
