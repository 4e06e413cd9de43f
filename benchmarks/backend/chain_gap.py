"""How long the backend takes to dispatch a call after its parent finishes (server-side chaining).

Starts an embedded engine on the tiny test model and the backend, runs a 10-step chain several
times, and reports the gap between each call's parent finishing and the call being dispatched,
from the backend's own timeline.

    python benchmarks/backend/chain_gap.py [--runs 5] [--model PATH]
"""

from __future__ import annotations

import statistics
import tempfile
from typing import Annotated

import typer
from rich.console import Console

from parrot_backend.engines.processes import BackendProcess, EngineProcess
from parrot_integrations.client import ParrotClient, ProgramBuilder

app = typer.Typer(add_completion=False)


def chain(steps: int, tokens: int) -> ProgramBuilder:
    p = ProgramBuilder()
    previous = p.input("seed", "The parrot said")
    for step in range(steps):
        previous = p.call(f"Step {step}: {{{previous.name}}}", output=f"s{step}", max_new_tokens=tokens, temperature=0)
    p.get(previous)
    return p


@app.command()
def main(
    runs: Annotated[int, typer.Option(help="Chains to run.")] = 5,
    steps: Annotated[int, typer.Option(help="Calls per chain.")] = 10,
    tokens: Annotated[int, typer.Option(help="New tokens per call.")] = 8,
    model: Annotated[str | None, typer.Option(help="Engine model (default: the tiny test model).")] = None,
) -> None:
    console = Console()
    if model is None:
        from parrot_backend.engines.embedded.tiny import build_tiny_llama

        model = str(build_tiny_llama(tempfile.mkdtemp(prefix="tiny-")))
    gaps: list[float] = []  # parent finished -> child dispatched to an engine
    firsts: list[float] = []  # parent finished -> child's first token back from the engine
    with (
        EngineProcess(["--model", model]) as engine,
        BackendProcess([engine.url]) as backend,
        ParrotClient(backend.url) as client,
    ):
        for _ in range(runs):
            run = client.submit(chain(steps, tokens))
            run.get(f"s{steps - 1}")
            records = {c["id"]: c for c in run.status()["calls"]}
            for i in range(1, steps):
                parent_done = records[f"call_{i - 1}"]["finished_at"]
                gaps.append(records[f"call_{i}"]["ready_at"] - parent_done)
                firsts.append(records[f"call_{i}"]["started_at"] - parent_done)
    console.print(f"{len(gaps)} parent→child gaps over {runs} chains of {steps} calls ({tokens} tokens each):")
    for name, values in (("dispatched", gaps), ("first token", firsts)):
        ms = sorted(v * 1000 for v in values)
        p90 = ms[int(0.9 * (len(ms) - 1))]
        console.print(f"  parent done → child {name}: median {statistics.median(ms):.2f} ms, p90 {p90:.2f} ms")


if __name__ == "__main__":
    app()
