"""The scheduler's policies, each a switch, and the numbers they use.

- ``affinity``: a call goes to the engine whose cache holds the longest prefix of its prompt,
  unless that engine runs ``slack`` more calls than the least-loaded one; then the prefix is
  replicated on the least-loaded engine.
- ``warmup``: when two or more calls dispatched together to one engine share a prefix it does not
  hold, the prefix is prefilled once (a ``max_new_tokens: 0`` request) and the calls are released
  after it, in depth-first order of their prefix tree.
- ``objectives``: calls a user waits on (``latency``) go ahead of batch work (``throughput``), and
  while latency work is in the backend each engine takes at most ``throughput_cap`` throughput calls.

Server-side dataflow (a call dispatched inside the backend the moment its inputs are filled) is
not a switch: it is what a program is. A task-group policy (queue and spread the siblings one
consumer reads as a unit) was built and measured, showed no gain in any workload, and was removed;
the analysis still reports each call's task group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from parrot_backend.errors import ConfigError

POLICIES = ("affinity", "warmup", "objectives")


@dataclass(frozen=True)
class SchedulerConfig:
    """Which policies are on, and their parameters."""

    affinity: bool = True
    warmup: bool = True
    objectives: bool = True
    slack: int = 1  # calls a prefix's engine may run beyond the least-loaded one and still get it
    min_prefix_chars: int = 256  # a shared prefix shorter than this is not worth keeping or warming
    throughput_cap: int = 4  # throughput calls per engine while latency work is in the backend

    def __post_init__(self) -> None:
        if self.slack < 0 or self.min_prefix_chars < 1 or self.throughput_cap < 1:
            raise ConfigError("scheduler: slack must be >= 0, min_prefix_chars and throughput_cap >= 1")

    def without(self, names: Iterable[str]) -> SchedulerConfig:
        """This configuration with the named policies switched off (ConfigError for unknown names)."""
        off = list(names)
        unknown = sorted(set(off) - set(POLICIES))
        if unknown:
            raise ConfigError(f"unknown scheduler policy {', '.join(unknown)}; the policies are {', '.join(POLICIES)}")
        return replace(self, **dict.fromkeys(off, False))

    def enabled(self) -> list[str]:
        """The names of the policies that are on."""
        return [f.name for f in fields(self) if f.name in POLICIES and getattr(self, f.name)]
