"""PNG plots of a benchmark run: latency by workload and mode, and a timeline of one app's calls
per mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.suite.report import rows

COLORS = {"baseline": "#9e9e9e", "router": "#4c78a8", "parrot": "#f58518"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_plot(results: dict[str, Any], path: Path) -> Path:
    """Median latency per workload and mode (whisker to p90), one panel per round trip; a black
    tick marks the critical-path bound."""
    plt = _pyplot()
    all_rows = rows(results)
    rtts = list(dict.fromkeys(row.rtt_ms for row in all_rows))
    groups = list(dict.fromkeys((row.workload, row.kind) for row in all_rows))
    modes = results["modes"]
    fig, axes = plt.subplots(1, len(rtts), figsize=(1.6 * len(groups) * len(rtts) + 2, 4.5), squeeze=False)
    width = 0.8 / len(modes)
    for ax, rtt in zip(axes[0], rtts, strict=True):
        for m, mode in enumerate(modes):
            for g, group in enumerate(groups):
                row = next((r for r in all_rows if (r.workload, r.kind, r.rtt_ms, r.mode) == (*group, rtt, mode)), None)
                if row is None:
                    continue
                x = g + (m - (len(modes) - 1) / 2) * width
                ax.bar(x, row.median, width, color=COLORS.get(mode), label=mode if g == 0 else None)
                ax.errorbar(x, row.median, yerr=[[0], [max(0.0, row.p90 - row.median)]], color="black", capsize=2)
                if row.bound and m == len(modes) - 1:
                    ax.hlines(row.bound, g - 0.45, g + 0.45, colors="black", linewidth=2,
                              label="critical-path bound" if g == 0 else None)  # fmt: skip
        ax.set_xticks(range(len(groups)), [f"{w}\n{k}" if k != w else w for w, k in groups], fontsize=8)
        ax.set_title(f"round trip {rtt:.0f} ms")
        ax.set_ylabel("end-to-end latency per app, s (median, whisker p90)")
        ax.legend(fontsize=8)
    fig.suptitle(f"Parrot benchmark, profile {results['profile']} ({results['model']}, {results['engines']} engines)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def gantt_plot(results: dict[str, Any], workload: str, path: Path) -> Path | None:
    """The calls of the workload's first app (first rep, largest round trip) in each mode, as
    bars on a shared time axis."""
    plt = _pyplot()
    rtt = max(results["rtt_ms"])
    picked = [
        c for c in results["cells"] if c["workload"] == workload and c["rtt_ms"] == rtt and c["rep"] == 0 and c["apps"]
    ]
    if not picked:
        return None
    fig, axes = plt.subplots(len(picked), 1, figsize=(10, 1.2 + 0.9 * len(picked) + 0.12 * max(
        len(c["apps"][0]["calls"]) for c in picked) * len(picked)), sharex=True, squeeze=False)  # fmt: skip
    for ax, cell in zip(axes[:, 0], picked, strict=True):
        app = cell["apps"][0]
        for i, call in enumerate(app["calls"]):
            ax.barh(i, call["end"] - call["start"], left=call["start"], height=0.7, color=COLORS.get(cell["mode"]))
            if call.get("engine"):  # where the backend placed the call
                ax.text(call["end"], i, f" {call['engine']}", va="center", fontsize=7)
        ax.axvline(app["latency"], color="black", linestyle="--", linewidth=1)
        ax.set_ylabel(cell["mode"])
        ax.set_yticks([])
        ax.invert_yaxis()
        ax.set_title(f"{cell['mode']}: {len(app['calls'])} calls, {app['latency']:.2f} s, "
                     f"{app['requests']} client requests", fontsize=9)  # fmt: skip
    axes[-1, 0].set_xlim(0, 1.02 * max(c["apps"][0]["latency"] for c in picked))
    axes[-1, 0].set_xlabel(f"seconds since the app started (round trip {rtt:.0f} ms; dashed: app done)")
    fig.suptitle(f"{workload}: one app's calls per mode")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
