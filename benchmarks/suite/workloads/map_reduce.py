"""``map_reduce``: summarize K chunks independently, then combine the summaries (LCEL)."""

from __future__ import annotations

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from benchmarks.suite.texts import chunks
from benchmarks.suite.workloads.base import App, Arrival, ChatFactory, Sizes, Workload, single_part, single_text
from parrot_integrations.langchain import text_only

MAP = ChatPromptTemplate([("human", "Summarize this passage in two sentences:\n\n{page_content}")])
REDUCE = ChatPromptTemplate([("human", "Combine these summaries into one paragraph:\n\n{summaries}")])


def _pages(value: dict) -> list[dict[str, str]]:
    return [{"page_content": doc.page_content} for doc in value["input_documents"]]


def map_reduce_app(chat: ChatFactory, sizes: Sizes) -> App:
    """The map-reduce summary app (also the batch job of the ``mixed`` workload)."""
    model = chat(sizes.summary_tokens)
    join = text_only(lambda summaries: {"summaries": "\n\n".join(summaries)})
    runnable: Runnable = (
        RunnableLambda(_pages) | (MAP | model | StrOutputParser()).map() | join | REDUCE | model | StrOutputParser()
    )
    return App(runnable, single_text, single_part)


def map_reduce_input(job: int, sizes: Sizes) -> dict:
    return {"input_documents": chunks(job, sizes.map_chunks, sizes.chunk_chars)}


class MapReduce(Workload):
    name = "map_reduce"
    description = "K independent chunk summaries, then one combining call"

    def apps(self, chat: ChatFactory, sizes: Sizes) -> dict[str, App]:
        return {"map_reduce": map_reduce_app(chat, sizes)}

    def arrivals(self, sizes: Sizes) -> list[Arrival]:
        return [Arrival("map_reduce", 0.0, map_reduce_input(job, sizes)) for job in range(sizes.jobs)]
