"""``parrot bench``: the benchmark suite (workloads x modes x round trips) on engines it starts,
with the results written as JSON, Markdown and PNG plots.

    parrot bench --profile cpu                      # the whole CPU suite, about 20 minutes
    parrot bench --workload map_reduce --mode baseline --mode parrot --rtt-ms 250
    parrot bench --from-json benchmarks/results/cpu-20261123-1200/results.json   # redraw
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from benchmarks.suite.workloads.base import Sizes

app = typer.Typer(add_completion=False, help=__doc__)
RESULTS = Path(__file__).parent / "results"


@app.command()
def bench(
    profile: Annotated[str, typer.Option(help="Size profile: cpu or gpu.")] = "cpu",
    workload: Annotated[
        list[str] | None,
        typer.Option(help="Workload (repeatable): chain, map_reduce, shared_prompt, multi_agent, mixed. Default: all."),
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option(
            help="Mode (repeatable): baseline, router, parrot, or an ablation parrot-no-POLICY "
            "(affinity, warmup, objectives). Default: baseline, router, parrot."
        ),
    ] = None,
    ablate: Annotated[bool, typer.Option(help="Also run parrot with each scheduler policy switched off.")] = False,
    engines: Annotated[int | None, typer.Option(help="Engines to start (default: the profile's).")] = None,
    rtt_ms: Annotated[list[float] | None, typer.Option(help="Simulated client round trip, ms (repeatable).")] = None,
    reps: Annotated[int, typer.Option(min=1, help="Runs of each cell; modes alternate.")] = 1,
    model: Annotated[str | None, typer.Option(help="Engine model folder (default: the profile's).")] = None,
    engine_arg: Annotated[list[str] | None, typer.Option(help="Extra argument for every engine (repeatable).")] = None,
    size: Annotated[
        list[str] | None, typer.Option(help="Override one of the profile's sizes, e.g. --size users=16 (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder that receives a folder per run.")] = RESULTS,
    from_json: Annotated[Path | None, typer.Option(help="Only redraw the report and plots of a results.json.")] = None,
) -> None:
    """Run the benchmark suite and write results.json, results.md and the plots."""
    from benchmarks.suite.cluster import Mode
    from benchmarks.suite.profiles import PROFILES
    from benchmarks.suite.workloads import WORKLOADS

    console = Console()
    if from_json is not None:
        _write(json.loads(from_json.read_text()), from_json.parent, console)
        return
    _check("profile", [profile], PROFILES)
    names = _check("workload", workload or list(WORKLOADS), WORKLOADS)
    modes = [
        Mode(m) for m in _check("mode", mode or [m.value for m in Mode if not m.disabled], {m.value: m for m in Mode})
    ]
    modes += [m for m in Mode.ablations() if ablate and m not in modes]
    base = PROFILES[profile]
    chosen = replace(
        base, engines=engines or base.engines, engine_args=[*base.engine_args, *(engine_arg or [])],
        sizes=_sizes(base.sizes, size or []),
    )  # fmt: skip
    for name in names:  # inputs the sizes cannot fill fail here, before any engine starts
        try:
            WORKLOADS[name].arrivals(chosen.sizes)
        except ValueError as error:
            raise typer.BadParameter(f"{name}: {error}") from None
    model_dir = Path(model) if model else _random_model(chosen.random_model, console)
    from benchmarks.suite.suite import run_suite

    results = asyncio.run(run_suite(chosen, names, modes, rtt_ms or [0.0, 250.0], reps, console, model_dir))
    folder = out / f"{chosen.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M')}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    _write(results, folder, console)


def _check(what: str, given: list[str], known: dict) -> list[str]:
    unknown = [name for name in given if name not in known]
    if unknown:
        raise typer.BadParameter(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    return given


def _sizes(sizes: Sizes, overrides: list[str]) -> Sizes:
    """The profile's sizes with ``name=value`` overrides, each checked against the field's type."""
    known = {f.name: f.type for f in fields(sizes)}
    changes: dict[str, int | float] = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in known or not value:
            raise typer.BadParameter(f"--size takes name=value with a name among {', '.join(known)}; got {item!r}")
        cast = float if known[name] in (float, "float") else int
        try:
            changes[name] = cast(value)
        except ValueError:
            raise typer.BadParameter(f"--size {name} needs a {cast.__name__}, got {value!r}") from None
    return replace(sizes, **changes)


def _random_model(shape: dict[str, int] | None, console: Console) -> Path | None:
    """Build (once) the random-weight Llama a profile asks for, in Parrot's model cache."""
    if shape is None:
        return None
    from parrot_backend.engines.embedded.tiny import build_random_llama

    folder = Path.home() / ".cache" / "parrot" / "models" / ("random-llama-" + "-".join(map(str, shape.values())))
    if not (folder / "config.json").exists():
        console.print(f"building a random-weight Llama in {folder}")
        build_random_llama(folder, **shape)
    return folder


def _write(results: dict, folder: Path, console: Console) -> None:
    from benchmarks.suite.plots import gantt_plot, latency_plot
    from benchmarks.suite.report import markdown

    text = markdown(results)
    (folder / "results.md").write_text(text)
    latency_plot(results, folder / "latency.png")
    for name in dict.fromkeys(cell["workload"] for cell in results["cells"]):
        gantt_plot(results, name, folder / f"timeline-{name}.png")
    console.print(text)
    console.print(f"[bold]results in {folder}[/bold]")


if __name__ == "__main__":
    app()
