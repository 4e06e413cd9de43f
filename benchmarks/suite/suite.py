"""A whole benchmark run: every workload x mode x round trip, alternating modes, on one set of
engines; then the analysis (ideal prefill, critical-path bound) and the results on disk."""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from rich.console import Console
from rich.progress import Progress

from benchmarks.suite.cluster import Cluster, Mode
from benchmarks.suite.metrics import percentile
from benchmarks.suite.network import ClientNetwork
from benchmarks.suite.profiles import Profile
from benchmarks.suite.runner import Cell, chat_calls, critical_path_bound, ideal_prefill, run_cell
from benchmarks.suite.workloads import WORKLOADS, Workload


async def run_suite(
    profile: Profile,
    workloads: list[str],
    modes: list[Mode],
    rtt_ms: list[float],
    reps: int,
    console: Console,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the suite and return its results (what :mod:`benchmarks.suite.report` reads)."""
    net = ClientNetwork()
    net.install()
    cells: list[Cell] = []
    analysis: dict[str, dict[str, Any]] = {}
    args = profile.resolved_engine_args(model_dir)
    with Cluster(profile.engines, args, modes, profile.engine_env) as cluster:
        for mode in modes:
            net.watch(cluster.fronts[mode].url)
        await _warm_up(cluster, modes)
        total = len(rtt_ms) * len(workloads) * reps * len(modes)
        with Progress(console=console) as progress:
            task = progress.add_task("cells", total=total)
            for rtt in rtt_ms:
                for name in workloads:
                    workload = WORKLOADS[name]
                    for rep in range(reps):
                        # Each rep starts with another mode: the first cell of a workload pays for
                        # the engines meeting its shapes (measured on GPU), and no mode should
                        # always be the one that pays.
                        for mode in modes[rep % len(modes) :] + modes[: rep % len(modes)]:
                            progress.update(task, description=f"{name} {mode} {rtt:.0f} ms #{rep + 1}")
                            cell = await run_cell(cluster, net, workload, mode, profile.sizes, rtt, rep)
                            cells.append(cell)
                            median = percentile([app.latency for app in cell.apps], 50)
                            console.log(
                                f"{name} {mode} {rtt:.0f} ms #{rep + 1}: {len(cell.apps)} apps, "
                                f"median {median:.2f} s, makespan {cell.makespan:.1f} s"
                            )
                            if name not in analysis and not mode.is_parrot:
                                progress.update(task, description=f"{name}: critical path and ideal prefill")
                                analysis[name] = _analyse(cluster, net, workload, cell)
                            progress.advance(task)
        model = cluster.model_name
    return {
        "profile": profile.name,
        "command": " ".join(["parrot bench", *sys.argv[2:]]) if "bench" in sys.argv[1:2] else " ".join(sys.argv),
        "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "model": model,
        "engines": profile.engines,
        "engine_args": args,
        "sizes": asdict(profile.sizes),
        "modes": [m.value for m in modes],
        "rtt_ms": rtt_ms,
        "reps": reps,
        "cells": [cell.to_json() for cell in cells],
        "analysis": analysis,
    }


async def _warm_up(cluster: Cluster, modes: list[Mode]) -> None:
    """One short call through every mode, unmeasured: connections, tokenizers and first-call
    caches then favour no mode."""
    for mode in modes:
        app = ChatPromptTemplate([("human", "{question}")]) | cluster.chat(mode)(4) | StrOutputParser()
        await cluster.runnable(mode, app).ainvoke({"question": "Hello"})


def _analyse(cluster: Cluster, net: ClientNetwork, workload: Workload, cell: Cell) -> dict[str, Any]:
    """From a cell that sent every call from the client: the ideal prefill of the whole cell and,
    for the first app of each kind, the critical-path bound."""
    engine = cluster.engines[0].url
    per_app = [chat_calls(net.requests_of(index)) for index in range(len(cell.apps))]
    bounds: dict[str, Any] = {}
    for index, app in enumerate(cell.apps):
        if app.kind not in bounds and per_app[index]:
            bounds[app.kind] = critical_path_bound(engine, per_app[index])
    return {
        "ideal_prefill": ideal_prefill(engine, [body for calls in per_app for body, _ in calls]),
        "from_mode": cell.mode,
        "bounds": bounds,
    }
