"""Map-reduce and refine summaries of a State of the Union address with langchain-classic's
``load_summarize_chain``, compiled into one Parrot program. Run ``parrot serve --embedded`` first.

    python examples/langchain_summarize.py --chain-type map_reduce
    python examples/langchain_summarize.py --chain-type refine
"""

from __future__ import annotations

import sys
import time
from typing import Any

from _common import model_args, parser, speech_chunks
from langchain_classic.chains.summarize import load_summarize_chain

from parrot_integrations.langchain import ParrotLLM, compile


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parser("Summarize a State of the Union address through Parrot", max_tokens=64)
    options.add_argument("--chain-type", choices=["map_reduce", "refine"], default="map_reduce")
    options.add_argument("--speech", default="1790-Washington-1")
    options.add_argument("--chunks", type=int, default=4)
    options.add_argument("--chunk-chars", type=int, default=1200)
    args = options.parse_args(argv)
    docs = speech_chunks(args.speech, args.chunks, args.chunk_chars)
    chain = load_summarize_chain(ParrotLLM(**model_args(args)), chain_type=args.chain_type)
    compiled = compile(chain)
    start = time.perf_counter()
    result = compiled.invoke({"input_documents": docs})
    seconds = time.perf_counter() - start
    print(f"{args.chain_type} summary of {args.speech} ({len(docs)} chunks, {seconds:.1f} s):")
    print(result["output_text"].strip(), "\n")
    print(compiled.explain())
    return {"docs": docs, "output_text": result["output_text"], "explain": compiled.explain(), "seconds": seconds}


if __name__ == "__main__":
    main(sys.argv[1:])
