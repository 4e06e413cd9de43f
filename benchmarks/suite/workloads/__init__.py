"""The benchmark's workloads, by name."""

from __future__ import annotations

from benchmarks.suite.workloads.base import App, Arrival, ChatFactory, Sizes, Workload
from benchmarks.suite.workloads.chain import Chain
from benchmarks.suite.workloads.map_reduce import MapReduce
from benchmarks.suite.workloads.mixed import Mixed
from benchmarks.suite.workloads.multi_agent import MultiAgent
from benchmarks.suite.workloads.shared_prompt import SharedPrompt

WORKLOADS: dict[str, Workload] = {w.name: w for w in (Chain(), MapReduce(), SharedPrompt(), MultiAgent(), Mixed())}

__all__ = ["WORKLOADS", "App", "Arrival", "ChatFactory", "Sizes", "Workload"]
