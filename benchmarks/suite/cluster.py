"""The servers of one benchmark run, shared by every mode: N engines, the two routers in front of
them (round robin for ``baseline``, cache-aware for ``router``), and Parrot's backend (``parrot``),
each a child process on loopback that the run stops."""

from __future__ import annotations

import re
from contextlib import ExitStack
from enum import StrEnum
from functools import cached_property
from types import TracebackType

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from benchmarks.suite.workloads import ChatFactory
from parrot_backend.engines.processes import BackendProcess, EngineProcess, RouterProcess, ServerProcess
from parrot_backend.program.model import Objective


class Mode(StrEnum):
    """How the apps reach the engines."""

    baseline = "baseline"  # ChatOpenAI -> sglang-router (round_robin) -> engines
    router = "router"  # ChatOpenAI -> sglang-router (cache_aware) -> engines
    parrot = "parrot"  # compile(app) on ChatParrot -> Parrot backend -> engines
    # Ablations: parrot with one scheduler policy switched off (a backend of its own).
    no_affinity = "parrot-no-affinity"
    no_warmup = "parrot-no-warmup"
    no_objectives = "parrot-no-objectives"

    @property
    def is_parrot(self) -> bool:
        return self.value.startswith("parrot")

    @property
    def disabled(self) -> str | None:
        """The scheduler policy an ablation switches off."""
        return self.value.removeprefix("parrot-no-") if self.value.startswith("parrot-no-") else None

    @classmethod
    def ablations(cls) -> list[Mode]:
        return [mode for mode in cls if mode.disabled]


ROUTER_POLICY = {Mode.baseline: "round_robin", Mode.router: "cache_aware"}
_COUNTER = re.compile(r"^sglang:(prompt_tokens|cached_tokens)_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


class Cluster:
    """Starts the servers the given modes need; ``chat(mode)`` builds that mode's chat models."""

    def __init__(
        self, engines: int, engine_args: list[str], modes: list[Mode], engine_env: dict[str, str] | None = None
    ) -> None:
        self.modes = modes
        self._engine_spec = (engines, engine_args, engine_env or {})
        self.engines: list[EngineProcess] = []
        self.fronts: dict[Mode, ServerProcess] = {}
        self._stack = ExitStack()

    def __enter__(self) -> Cluster:
        count, args, env = self._engine_spec
        try:
            for _ in range(count):
                self.engines.append(self._stack.enter_context(EngineProcess(args, env=env)))
            urls = [engine.url for engine in self.engines]
            for mode in self.modes:
                front = (
                    BackendProcess(urls, ["--disable", mode.disabled] if mode.disabled else [])
                    if mode.is_parrot
                    else RouterProcess(urls, ROUTER_POLICY[mode])
                )
                self.fronts[mode] = self._stack.enter_context(front)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stack.close()

    @cached_property
    def model_name(self) -> str:
        """The engines' model, as they name it (asked once)."""
        return str(httpx.get(f"{self.engines[0].url}/v1/models", timeout=30).json()["data"][0]["id"])

    def chat(self, mode: Mode) -> ChatFactory:
        """Chat models of ``mode``: greedy, exactly ``max_tokens`` new tokens per call."""
        url, name = self.fronts[mode].url, self.model_name

        def build(max_tokens: int) -> BaseChatModel:
            if mode.is_parrot:
                from parrot_integrations.langchain import ChatParrot

                return ChatParrot(base_url=url, model=name, max_tokens=max_tokens, temperature=0, ignore_eos=True)
            from langchain_openai import ChatOpenAI

            return ChatOpenAI(
                base_url=f"{url}/v1", api_key="unused", model=name, max_tokens=max_tokens, temperature=0,
                extra_body={"ignore_eos": True}, timeout=600, max_retries=0,
            )  # fmt: skip

        return build

    @staticmethod
    def runnable(mode: Mode, app: Runnable, objective: Objective = "latency") -> Runnable:
        """``app`` as ``mode`` runs it: compiled into Parrot programs (with the app's objective) in
        the parrot modes, as written otherwise."""
        if not mode.is_parrot:
            return app
        from parrot_integrations.langchain import compile

        return compile(app, objective=objective)

    def flush(self) -> None:
        """Empty every engine's prefix cache (and the routers' view of it)."""
        for server in [*self.engines, *(f for m, f in self.fronts.items() if not m.is_parrot)]:
            httpx.post(f"{server.url}/flush_cache", timeout=60).raise_for_status()

    def prefill_counters(self) -> dict[str, float]:
        """Prompt and cached tokens received by all engines since they started."""
        totals = {"prompt_tokens": 0.0, "cached_tokens": 0.0}
        for engine in self.engines:
            for name, value in _COUNTER.findall(httpx.get(f"{engine.url}/metrics", timeout=30).text):
                totals[name] += float(value)
        return totals
