"""What every workload is made of: apps (LangChain runnables as users write them), their arrivals
in time, and the sizes a profile gives them."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from parrot_backend.program.model import Objective

# A chat model with greedy decoding and exactly ``max_tokens`` new tokens per call, pointing at the
# servers of one mode (ChatOpenAI for baseline and router, ChatParrot for parrot).
ChatFactory = Callable[[int], BaseChatModel]


@dataclass(frozen=True)
class Sizes:
    """How big a profile makes each workload. Output lengths are fixed (``ignore_eos``)."""

    chunk_chars: int  # characters per document chunk (chain, map_reduce, mixed)
    chain_chunks: int  # refine steps of one chain app
    map_chunks: int  # map calls of one map-reduce app
    summary_tokens: int  # new tokens of a summary (map, refine, reduce steps)
    jobs: int  # apps per run of chain / map_reduce / multi_agent, all arriving at once
    context_chars: int  # the shared system prompt's document (shared_prompt)
    users: int  # shared_prompt users, one question each
    user_rate: float  # their Poisson arrival rate, per second
    answer_tokens: int  # new tokens of a chat answer (shared_prompt, mixed)
    brief_chars: int  # multi_agent: the project brief every agent reads
    modules: int  # multi_agent: engineers (and reviewers)
    agent_tokens: int  # multi_agent: new tokens per agent call
    chat_users: int  # mixed: interactive users
    chat_rate: float  # mixed: their Poisson arrival rate, per second
    mixed_jobs: int  # mixed: map-reduce jobs, arriving at once at the start


@dataclass(frozen=True)
class App:
    """One kind of app of a workload: the runnable, and how to read its result as text (what the
    modes must agree on, and what must not be empty)."""

    runnable: Runnable
    text: Callable[[Any], str]
    parts: Callable[[Any], list[str]]  # every output the app produced, each must be non-empty
    objective: Objective = "latency"  # throughput: batch work nobody waits on (Parrot is told)


@dataclass(frozen=True)
class Arrival:
    """An app instance: its kind, when it starts (seconds after the run starts) and its input."""

    kind: str
    at: float
    value: dict[str, Any]


class Workload(ABC):
    """A benchmark workload: kinds of apps and the arrivals of one run."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def apps(self, chat: ChatFactory, sizes: Sizes) -> dict[str, App]:
        """The apps by kind, built on ``chat``."""

    @abstractmethod
    def arrivals(self, sizes: Sizes) -> list[Arrival]:
        """Every app instance of one run, with deterministic inputs and times."""


def poisson(count: int, rate: float, seed: int) -> list[float]:
    """``count`` arrival times of a Poisson process of ``rate`` per second, starting at 0."""
    rng, now, times = random.Random(seed), 0.0, []
    for _ in range(count):
        times.append(now)
        now += rng.expovariate(rate)
    return times


def single_text(result: Any) -> str:
    return str(result)


def single_part(result: Any) -> list[str]:
    return [str(result)]
