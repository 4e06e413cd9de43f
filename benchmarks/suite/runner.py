"""One benchmark cell: a workload's apps run in one mode under one simulated round trip, on
flushed engines, with what the client and the engines saw recorded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import httpx

from benchmarks.suite.cluster import Cluster, Mode
from benchmarks.suite.metrics import Call, critical_path, dependencies, trie_size
from benchmarks.suite.network import ClientNetwork, Request, app_scope
from benchmarks.suite.workloads import App, Sizes, Workload


@dataclass
class Span:
    """One LLM call of an app on a timeline (seconds after the app started)."""

    start: float
    end: float
    engine: str | None = None
    cached_tokens: int | None = None


@dataclass
class AppRun:
    """One app instance's result."""

    kind: str
    arrival: float
    latency: float
    requests: int
    text: str
    complete: bool
    error: str | None = None
    calls: list[Span] = field(default_factory=list)


@dataclass
class Cell:
    """One workload in one mode under one round trip."""

    workload: str
    mode: str
    rtt_ms: float
    rep: int
    makespan: float
    apps: list[AppRun]
    prompt_tokens: float
    cached_tokens: float

    @property
    def computed_tokens(self) -> float:
        return self.prompt_tokens - self.cached_tokens

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "computed_tokens": self.computed_tokens}


async def run_cell(
    cluster: Cluster, net: ClientNetwork, workload: Workload, mode: Mode, sizes: Sizes, rtt_ms: float, rep: int
) -> Cell:
    """Run every arrival of ``workload`` in ``mode`` and measure it."""
    apps = _apps(cluster, workload, mode, sizes)
    arrivals = workload.arrivals(sizes)
    cluster.flush()
    before = cluster.prefill_counters()
    net.log.clear()
    net.seconds = rtt_ms / 1000
    start = time.time()

    async def one(index: int) -> AppRun:
        arrival = arrivals[index]
        await asyncio.sleep(max(0.0, start + arrival.at - time.time()))
        app = apps[arrival.kind]
        with app_scope(index):
            began = time.time()
            try:
                result = await app.runnable.ainvoke(arrival.value)
            except Exception as error:  # noqa: BLE001 - a failed app is a result of the cell
                return AppRun(
                    arrival.kind, arrival.at, time.time() - began, 0, "", False, f"{type(error).__name__}: {error}"
                )
            latency = time.time() - began
        parts = app.parts(result)
        return AppRun(
            arrival.kind, arrival.at, latency, 0, app.text(result), bool(parts) and all(p.strip() for p in parts)
        )

    runs = await asyncio.gather(*(one(i) for i in range(len(arrivals))))
    makespan = time.time() - start
    net.seconds = 0.0
    after = cluster.prefill_counters()
    for index, run in enumerate(runs):
        requests = net.requests_of(index)
        run.requests = len(requests)
        run.calls = _spans(cluster, mode, requests, start + arrivals[index].at)
    return Cell(
        workload.name, mode.value, rtt_ms, rep, makespan, list(runs),
        after["prompt_tokens"] - before["prompt_tokens"], after["cached_tokens"] - before["cached_tokens"],
    )  # fmt: skip


def _apps(cluster: Cluster, workload: Workload, mode: Mode, sizes: Sizes) -> dict[str, App]:
    apps = workload.apps(cluster.chat(mode), sizes)
    return {
        kind: replace(app, runnable=cluster.runnable(mode, app.runnable, app.objective)) for kind, app in apps.items()
    }


def _spans(cluster: Cluster, mode: Mode, requests: list[Request], began: float) -> list[Span]:
    """The app's LLM calls: the chat requests it sent, or its programs' calls on the backend."""
    if not mode.is_parrot:
        return [Span(r.sent - began, r.done - began) for r in requests if r.path.endswith("/chat/completions")]
    spans = []
    for request in requests:
        if request.path == "/v1/programs" and request.reply and "id" in request.reply:
            url = f"{cluster.fronts[mode].url}/v1/programs/{request.reply['id']}"
            for call in httpx.get(url, timeout=60).json()["calls"]:
                if call["ready_at"] is not None and call["finished_at"] is not None:
                    spans.append(Span(call["ready_at"] - began, call["finished_at"] - began, call["engine"],
                                      call["cached_tokens"]))  # fmt: skip
    return sorted(spans, key=lambda span: span.start)


def chat_calls(requests: list[Request]) -> list[tuple[dict[str, Any], Call]]:
    """The chat requests among one app's ``requests`` (in order) with their prompt text and output."""
    calls = []
    for request in sorted(requests, key=lambda r: r.sent):
        if request.path.endswith("/chat/completions") and request.body and request.reply:
            prompt = "\n".join(str(m.get("content", "")) for m in request.body.get("messages", []))
            output = str(request.reply["choices"][0]["message"].get("content") or "")
            calls.append((request.body, Call(prompt, output)))
    return calls


def ideal_prefill(engine_url: str, bodies: list[dict[str, Any]]) -> int:
    """The token trie size of these chat requests' prompts, as the engine tokenizes them."""
    with httpx.Client(timeout=120) as client:
        prompts = [
            client.post(f"{engine_url}/tokenize", json={"messages": body["messages"]}).json()["tokens"]
            for body in bodies
        ]
    return trie_size(prompts)


def critical_path_bound(engine_url: str, calls: list[tuple[dict[str, Any], Call]]) -> dict[str, Any]:
    """Replay one app's calls on an idle engine, once to warm its cache and once timed, one after
    another with no round trip; the bound is the longest dependent chain of the timed durations."""
    parents = dependencies([call for _, call in calls])
    durations: list[float] = []
    with httpx.Client(timeout=600) as client:
        for timed in (False, True):
            for body, _ in calls:
                began = time.perf_counter()
                client.post(f"{engine_url}/v1/chat/completions", json=body).raise_for_status()
                if timed:
                    durations.append(time.perf_counter() - began)
    seconds, path = critical_path(durations, parents)
    return {"seconds": seconds, "calls_on_path": len(path), "calls": len(calls)}
