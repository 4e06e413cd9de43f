"""``shared_prompt``: U users ask short questions under one long common system prompt (an address
as context), arriving as a Poisson process."""

from __future__ import annotations

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from benchmarks.suite.texts import speech
from benchmarks.suite.workloads.base import (
    App,
    Arrival,
    ChatFactory,
    Sizes,
    Workload,
    poisson,
    single_part,
    single_text,
)

QA = ChatPromptTemplate(
    [
        ("system", "You answer questions about the following State of the Union address.\n\n{speech}"),
        ("human", "{question}"),
    ]
)
TOPICS = (
    "trade", "the army", "taxes", "public credit", "agriculture", "foreign nations", "the courts",
    "education", "the navy", "manufactures", "roads and post offices", "the militia", "Indian tribes",
    "the currency", "the census", "peace", "commerce", "the debt", "the mint", "immigration",
)  # fmt: skip
FORMS = ("What does the address say about {}?", "Summarize the president's view on {}.", "Is {} mentioned?")


def question(user: int) -> str:
    """A distinct short question for each user."""
    return FORMS[(user // len(TOPICS)) % len(FORMS)].format(TOPICS[user % len(TOPICS)])


def qa_app(chat: ChatFactory, sizes: Sizes) -> App:
    """One question over a document in the system prompt (also the chat app of ``mixed``)."""
    return App(QA | chat(sizes.answer_tokens) | StrOutputParser(), single_text, single_part)


class SharedPrompt(Workload):
    name = "shared_prompt"
    description = "U users' questions under one long shared system prompt, Poisson arrivals"

    def apps(self, chat: ChatFactory, sizes: Sizes) -> dict[str, App]:
        return {"question": qa_app(chat, sizes)}

    def arrivals(self, sizes: Sizes) -> list[Arrival]:
        context = speech(0, sizes.context_chars)[1][: sizes.context_chars]
        times = poisson(sizes.users, sizes.user_rate, seed=1)
        return [
            Arrival("question", at, {"speech": context, "question": question(user)}) for user, at in enumerate(times)
        ]
