"""``multi_agent``: an architect writes a spec, N engineers each write one module from it, N
reviewers each review one module with the spec, and an integrator merges everything. Every agent
reads the project brief and (after the architect) the spec first: shared context at each fan-out."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough

from benchmarks.suite.texts import speech
from benchmarks.suite.workloads.base import App, Arrival, ChatFactory, Sizes, Workload

BRIEF = "You are one agent of a software team. The project brief:\n\n{brief}"
TEAM = BRIEF + "\n\nThe architect's specification:\n\n{spec}"
MODULES = ("parser", "storage", "search", "report", "cli", "api", "auth", "cache")
TASK = "an archive of the State of the Union addresses, searchable by topic, as described in the brief"


def _prompt(system: str, human: str) -> ChatPromptTemplate:
    return ChatPromptTemplate([("system", system), ("human", human)])


def _outputs(modules: int) -> list[str]:
    return ["spec", *(f"code_{i}" for i in range(modules)), *(f"review_{i}" for i in range(modules)), "final"]


class MultiAgent(Workload):
    name = "multi_agent"
    description = "architect -> N engineers -> N reviewers -> integrator, shared context at each fan-out"

    def apps(self, chat: ChatFactory, sizes: Sizes) -> dict[str, App]:
        model, n = chat(sizes.agent_tokens), sizes.modules
        names = [MODULES[i % len(MODULES)] + ("" if i < len(MODULES) else str(i)) for i in range(n)]
        architect = _prompt(BRIEF, "Write a short design specification for {task}.") | model | StrOutputParser()
        engineers = {
            f"code_{i}": _prompt(TEAM, f"Write the {name} module.") | model | StrOutputParser()
            for i, name in enumerate(names)
        }
        reviewers = {
            f"review_{i}": _prompt(TEAM, f"Review the {name} module:\n\n{{code_{i}}}") | model | StrOutputParser()
            for i, name in enumerate(names)
        }
        merged = "\n\n".join(f"{name}:\n{{code_{i}}}\nReview:\n{{review_{i}}}" for i, name in enumerate(names))
        integrator = (
            _prompt(TEAM, "Merge these modules, applying the reviews:\n\n" + merged) | model | StrOutputParser()
        )
        runnable: Runnable = (
            RunnablePassthrough.assign(spec=architect)
            | RunnablePassthrough.assign(**engineers)
            | RunnablePassthrough.assign(**reviewers)
            | RunnablePassthrough.assign(final=integrator)
        )
        keys = _outputs(n)

        def text(result: dict[str, Any]) -> str:
            return json.dumps({key: result[key] for key in keys})

        return {"team": App(runnable, text, lambda result: [str(result[key]) for key in keys])}

    def arrivals(self, sizes: Sizes) -> list[Arrival]:
        return [
            Arrival("team", 0.0, {"brief": speech(job, sizes.brief_chars)[1][: sizes.brief_chars], "task": TASK})
            for job in range(sizes.jobs)
        ]
