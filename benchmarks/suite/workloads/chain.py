"""``chain``: refine summarization of one long address in K chunks, each step reading the last
summary (langchain-classic's ``load_summarize_chain(chain_type="refine")``)."""

from __future__ import annotations

from typing import Any

from langchain_classic.chains.summarize import load_summarize_chain

from benchmarks.suite.texts import chunks
from benchmarks.suite.workloads.base import App, Arrival, ChatFactory, Sizes, Workload


def _output(result: dict[str, Any]) -> str:
    return str(result["output_text"])


class Chain(Workload):
    name = "chain"
    description = "refine summary of K chunks, each step depending on the last"

    def apps(self, chat: ChatFactory, sizes: Sizes) -> dict[str, App]:
        refine = load_summarize_chain(chat(sizes.summary_tokens), chain_type="refine")
        return {"refine": App(refine, _output, lambda result: [_output(result)])}

    def arrivals(self, sizes: Sizes) -> list[Arrival]:
        return [
            Arrival("refine", 0.0, {"input_documents": chunks(job, sizes.chain_chunks, sizes.chunk_chars)})
            for job in range(sizes.jobs)
        ]
