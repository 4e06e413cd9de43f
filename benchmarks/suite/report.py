"""Results of a benchmark run as tables: one row per workload, app kind, round trip and mode, and
the ratios between modes. Reads the JSON that :func:`benchmarks.suite.suite.run_suite` returns."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from benchmarks.suite.metrics import percentile


@dataclass(frozen=True)
class Row:
    """One workload's app kind in one mode under one round trip, over every rep."""

    workload: str
    kind: str
    rtt_ms: float
    mode: str
    apps: int
    median: float
    p90: float
    p99: float
    apps_per_minute: float
    requests_per_app: float
    prompt_tokens: float  # per cell (mean over reps), all kinds of the workload together
    cached_tokens: float
    computed_tokens: float
    ideal_prefill: float | None
    bound: float | None  # critical-path bound of this kind's first app
    complete: bool  # every app of every rep gave non-empty outputs
    same_as_baseline: bool | None  # identical text to the baseline's, app by app


def rows(results: dict[str, Any]) -> list[Row]:
    cells = results["cells"]
    keys = dict.fromkeys((c["workload"], a["kind"], c["rtt_ms"], c["mode"]) for c in cells for a in c["apps"])
    return [_row(results, cells, *key) for key in keys]


def _row(results: dict[str, Any], cells: list[dict], workload: str, kind: str, rtt: float, mode: str) -> Row:
    mine = [c for c in cells if (c["workload"], c["rtt_ms"], c["mode"]) == (workload, rtt, mode)]
    apps = [a for c in mine for a in c["apps"] if a["kind"] == kind]
    latencies = [a["latency"] for a in apps]
    analysis = results["analysis"].get(workload, {})
    bound = analysis.get("bounds", {}).get(kind, {}).get("seconds")
    return Row(
        workload=workload, kind=kind, rtt_ms=rtt, mode=mode, apps=len(apps),
        median=percentile(latencies, 50), p90=percentile(latencies, 90), p99=percentile(latencies, 99),
        apps_per_minute=60 * len(apps) / sum(c["makespan"] for c in mine),
        requests_per_app=statistics.mean(a["requests"] for a in apps),
        prompt_tokens=statistics.mean(c["prompt_tokens"] for c in mine),
        cached_tokens=statistics.mean(c["cached_tokens"] for c in mine),
        computed_tokens=statistics.mean(c["computed_tokens"] for c in mine),
        ideal_prefill=analysis.get("ideal_prefill"), bound=bound,
        complete=all(a["complete"] for a in apps), same_as_baseline=_same(cells, mine, kind),
    )  # fmt: skip


def _same(cells: list[dict], mine: list[dict], kind: str) -> bool | None:
    """Whether each app of ``mine`` gave the text the baseline gave for the same app and rep."""
    verdicts = []
    for cell in mine:
        same_run = (cell["workload"], cell["rtt_ms"], cell["rep"], "baseline")
        base = [c for c in cells if (c["workload"], c["rtt_ms"], c["rep"], c["mode"]) == same_run]
        if not base:
            return None
        pairs = zip(cell["apps"], base[0]["apps"], strict=True)
        verdicts += [a["text"] == b["text"] for a, b in pairs if a["kind"] == kind]
    return all(verdicts)


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "**NO**")


TABLE_HEAD = [
    "workload", "app", "rtt ms", "mode", "apps", "median s", "p90 s", "p99 s", "apps/min", "requests/app",
    "prompt tok", "cached tok", "computed tok", "ideal tok", "computed/ideal", "bound s", "median/bound",
    "complete", "same as baseline",
]  # fmt: skip


def table_cells(row: Row) -> list[str]:
    ratio = row.computed_tokens / row.ideal_prefill if row.ideal_prefill else None
    over_bound = row.median / row.bound if row.bound else None
    return [
        row.workload, row.kind, f"{row.rtt_ms:.0f}", row.mode, str(row.apps), _num(row.median), _num(row.p90),
        _num(row.p99), _num(row.apps_per_minute, 1), _num(row.requests_per_app, 1), _num(row.prompt_tokens, 0),
        _num(row.cached_tokens, 0), _num(row.computed_tokens, 0), _num(row.ideal_prefill, 0), _num(ratio, 2, "x"),
        _num(row.bound), _num(over_bound, 2, "x"), _yes(row.complete), _yes(row.same_as_baseline),
    ]  # fmt: skip


RATIO_HEAD = ["workload", "app", "rtt ms", "baseline / parrot", "router / parrot", "parrot / bound",
              "parrot computed / ideal", "router computed / ideal", "baseline computed / ideal"]  # fmt: skip


def ratio_cells(group: dict[str, Row]) -> list[str] | None:
    """Median latency ratios (above 1: parrot is faster) and prefill over the ideal, for one
    workload, app kind and round trip; None without a parrot row."""
    parrot = group.get("parrot")
    if parrot is None:
        return None

    def speedup(mode: str) -> str:
        other = group.get(mode)
        return _num(other.median / parrot.median, 2, "x") if other else "-"

    def prefill(mode: str) -> str:
        row = group.get(mode)
        return _num(row.computed_tokens / row.ideal_prefill, 2, "x") if row and row.ideal_prefill else "-"

    bound = _num(parrot.median / parrot.bound, 2, "x") if parrot.bound else "-"
    return [parrot.workload, parrot.kind, f"{parrot.rtt_ms:.0f}", speedup("baseline"), speedup("router"), bound,
            prefill("parrot"), prefill("router"), prefill("baseline")]  # fmt: skip


def ablation_cells(group: dict[str, Row], ablations: list[str]) -> list[str] | None:
    """For each ablation of one workload, app kind and round trip: its median latency over
    parrot's (above 1x the policy helps) and its computed prefill over parrot's; None if none ran."""
    parrot = group.get("parrot")
    if parrot is None or not any(mode in group for mode in ablations):
        return None
    cells = [parrot.workload, parrot.kind, f"{parrot.rtt_ms:.0f}"]
    for mode in ablations:
        row = group.get(mode)
        if row is None or not parrot.computed_tokens:
            cells.append("-")
            continue
        cells.append(f"{row.median / parrot.median:.2f}x, {row.computed_tokens / parrot.computed_tokens:.2f}x")
    return cells


def markdown(results: dict[str, Any]) -> str:
    """The run's Markdown report: setup, ratios, then every row."""
    all_rows = rows(results)
    groups: dict[tuple[str, str, float], dict[str, Row]] = {}
    for row in all_rows:
        groups.setdefault((row.workload, row.kind, row.rtt_ms), {})[row.mode] = row
    ratios = [cells for group in groups.values() if (cells := ratio_cells(group))]
    ablated = [mode for mode in results["modes"] if mode.startswith("parrot-no-")]
    ablations = [cells for group in groups.values() if (cells := ablation_cells(group, ablated))]
    ablation_lines = [
        "## Ablations (each policy off: median latency, computed prefill, over parrot's; above 1x it helps)",
        "",
        *_markdown_table(["workload", "app", "rtt ms", *(m.replace("parrot-", "", 1) for m in ablated)], ablations),
        "",
    ]
    sizes = ", ".join(f"{k}={v}" for k, v in results["sizes"].items())
    lines = [
        f"# Benchmark: profile `{results['profile']}` ({results['date']})",
        "",
        f"`{results['command']}`",
        "",
        f"- machine: {results['machine']} ({results['processor']})",
        f"- engines: {results['engines']} x `{results['model']}` (`{' '.join(results['engine_args']) or 'defaults'}`)",
        f"- modes: {', '.join(results['modes'])}; round trips: {', '.join(f'{r:.0f} ms' for r in results['rtt_ms'])};"
        f" reps: {results['reps']}",
        f"- sizes: {sizes}",
        "",
        "## Ratios (median end-to-end latency; above 1x parrot is faster)",
        "",
        *_markdown_table(RATIO_HEAD, ratios),
        "",
        *(ablation_lines if ablations else []),
        "## Every row",
        "",
        *_markdown_table(TABLE_HEAD, [table_cells(row) for row in all_rows]),
        "",
    ]
    return "\n".join(lines)


def _markdown_table(head: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in body)]
