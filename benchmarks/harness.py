"""What the framework benchmarks share: a simulated client round trip, alternating runs of the modes
on a flushed engine, and the JSON + Markdown report."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from benchmarks.suite.network import ClientNetwork


def round_trip(base_url: str) -> ClientNetwork:
    """A simulated round trip (``.seconds``, 0 at first) on every request sent to ``base_url``'s host."""
    net = ClientNetwork()
    net.watch(base_url)
    net.install()
    return net


def alternate(
    cases: dict[str, dict[str, Callable[[], str]]],
    *,
    engine_url: str,
    trip: ClientNetwork,
    rtt_ms: list[float],
    reps: int,
    console: Console,
) -> list[dict[str, Any]]:
    """Run every case's modes ``reps`` times each, alternating, on a flushed prefix cache, under each
    round trip; one row per run with its wall time and output text. Every mode runs once first,
    unmeasured, so that what the client caches (token counts, connections) favours neither."""
    for modes in cases.values():
        for run in modes.values():
            run()
    rows: list[dict[str, Any]] = []
    runs = len(rtt_ms) * sum(len(modes) for modes in cases.values()) * reps
    with Progress(console=console) as progress:
        task = progress.add_task("runs", total=runs)
        for rtt in rtt_ms:
            trip.seconds = rtt / 1000
            for case, modes in cases.items():
                for rep in range(reps):
                    for mode, run in modes.items():
                        httpx.post(f"{engine_url}/flush_cache", timeout=60).raise_for_status()
                        start = time.perf_counter()
                        output = run()
                        seconds = time.perf_counter() - start
                        rows.append({"rtt_ms": rtt, "case": case, "mode": mode, "rep": rep, "seconds": seconds,
                                     "output": output})  # fmt: skip
                        progress.advance(task)
    return rows


def report(rows: list[dict[str, Any]], baseline: str, contender: str, out: Path, name: str, **setup: Any) -> None:
    """Median wall time per mode, the ratio baseline / contender, and whether every run of a case
    gave the same text; printed, and written to ``out`` as JSON (every run) and Markdown."""
    lines = [
        f"| rtt ms | case | {baseline} s | {contender} s | {baseline} / {contender} | same output |",
        "|---|---|---|---|---|---|",
    ]
    table = Table(title=f"{name}: median wall time per run")
    for column in ("rtt ms", "case", f"{baseline} s", f"{contender} s", f"{baseline} / {contender}", "same output"):
        table.add_column(column)
    summary = []
    for rtt in dict.fromkeys(row["rtt_ms"] for row in rows):
        for case in dict.fromkeys(row["case"] for row in rows):
            runs = [row for row in rows if (row["rtt_ms"], row["case"]) == (rtt, case)]
            medians = {
                m: statistics.median(r["seconds"] for r in runs if r["mode"] == m) for m in (baseline, contender)
            }
            same = len({r["output"] for r in runs}) == 1
            summary.append({"rtt_ms": rtt, "case": case, **medians, "ratio": medians[baseline] / medians[contender],
                            "same_output": same})  # fmt: skip
            cells = [f"{rtt:.0f}", case, f"{medians[baseline]:.2f}", f"{medians[contender]:.2f}",
                     f"{medians[baseline] / medians[contender]:.2f}x", "yes" if same else "NO"]  # fmt: skip
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    meta = {"command": " ".join(["python", *sys.argv]), "machine": platform.platform(), "date": stamp, **setup}
    (out / f"{name}-{stamp}.json").write_text(json.dumps({**meta, "summary": summary, "runs": rows}, indent=1))
    header = [f"# {name} ({stamp})", "", f"`{meta['command']}`", "", meta["machine"], ""]
    (out / f"{name}-{stamp}.md").write_text("\n".join([*header, *lines, ""]))
