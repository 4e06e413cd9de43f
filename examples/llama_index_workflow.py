"""A LlamaIndex Workflow whose map-reduce step runs as one Parrot program: every chunk of a speech
summarized together, then combined on the backend. Run ``parrot serve --embedded`` first.

    python examples/llama_index_workflow.py
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from _common import parser, speech_chunks
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step

from parrot_integrations.llama_index import Parrot, deferred_calls


class SummarizeSpeech(Workflow):
    """Summarize each chunk, then combine the summaries (all in one step)."""

    def __init__(self, llm: Parrot, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.llm = llm

    async def map_reduce(self, chunks: list[str]) -> str:
        parts = await asyncio.gather(
            *(self.llm.acomplete(f"Summarize in one sentence:\n{c}\nSummary:") for c in chunks)
        )
        joined = "\n".join(f"- {part.text.strip()}" for part in parts)
        return (await self.llm.acomplete(f"Combine these summaries into one paragraph:\n{joined}\nParagraph:")).text

    @step
    @deferred_calls
    async def summarize(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=await self.map_reduce(ev.chunks))


async def run(workflow: Workflow, chunks: list[str]) -> str:
    return await workflow.run(chunks=chunks)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parser("A LlamaIndex Workflow step as one Parrot program", max_tokens=48)
    options.add_argument("--speech", default="1790-Washington-1")
    options.add_argument("--chunks", type=int, default=4)
    args = options.parse_args(argv)
    extra = {"ignore_eos": True} if args.ignore_eos else {}
    base = {"base_url": args.base_url} if args.base_url else {}
    llm = Parrot(**base, max_tokens=args.max_tokens, temperature=0, additional_kwargs=extra)
    chunks = [doc.page_content for doc in speech_chunks(args.speech, args.chunks, 1000)]
    result = asyncio.run(run(SummarizeSpeech(llm=llm, timeout=600), chunks))
    print(result.strip())
    return {"chunks": chunks, "summary": result, "llm": llm}


if __name__ == "__main__":
    main(sys.argv[1:])
