"""An LCEL fan-out compiled into one Parrot program: three analyses of a passage run side by side,
then a brief combines them, chained on the backend with no client round trip in between. Run
``parrot serve --embedded`` first.

    python examples/langchain_fanout.py
"""

from __future__ import annotations

import sys
import time
from typing import Any

from _common import model_args, parser, speech_chunks
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough

from parrot_integrations.langchain import ChatParrot, compile


def ask(chat: ChatParrot, instruction: str) -> Runnable:
    """One analysis of the passage; every one starts with the same system message and passage."""
    prompt = ChatPromptTemplate(
        [("system", "You analyse passages of historical speeches.\nPassage:\n{passage}"), ("human", instruction)]
    )
    return prompt | chat | StrOutputParser()


def build_chain(chat: ChatParrot) -> Runnable:
    analyses = {
        "topics": ask(chat, "List the two main topics of the passage."),
        "tone": ask(chat, "Describe the tone of the passage in a few words."),
        "gist": ask(chat, "Summarize the passage in one sentence."),
    }
    brief = ChatPromptTemplate(
        [("human", "Write a two-sentence brief from these notes.\nTopics: {topics}\nTone: {tone}\nGist: {gist}")]
    )
    return RunnablePassthrough.assign(**analyses) | RunnablePassthrough.assign(brief=brief | chat | StrOutputParser())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parser("An LCEL fan-out compiled into one Parrot program", max_tokens=40)
    options.add_argument("--speech", default="1790-Washington-1")
    args = options.parse_args(argv)
    passage = speech_chunks(args.speech, 1, 1200)[0].page_content
    chain = compile(build_chain(ChatParrot(**model_args(args))))
    start = time.perf_counter()
    result = chain.invoke({"passage": passage})
    seconds = time.perf_counter() - start
    for key in ("topics", "tone", "gist", "brief"):
        print(f"{key}: {result[key].strip()}\n")
    print(chain.explain())
    print(f"\n{seconds:.1f} s")
    return {"result": result, "explain": chain.explain(), "seconds": seconds}


if __name__ == "__main__":
    main(sys.argv[1:])
