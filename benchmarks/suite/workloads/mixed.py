"""``mixed``: interactive chat users (latency matters) arrive while map-reduce jobs (throughput
matters) run on the same engines."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.suite.texts import speech
from benchmarks.suite.workloads.base import App, Arrival, ChatFactory, Sizes, Workload, poisson
from benchmarks.suite.workloads.map_reduce import map_reduce_app, map_reduce_input
from benchmarks.suite.workloads.shared_prompt import qa_app, question


class Mixed(Workload):
    name = "mixed"
    description = "chat users (latency) arriving while map-reduce jobs (throughput) run"

    def apps(self, chat: ChatFactory, sizes: Sizes) -> dict[str, App]:
        return {"chat": qa_app(chat, sizes), "job": replace(map_reduce_app(chat, sizes), objective="throughput")}

    def arrivals(self, sizes: Sizes) -> list[Arrival]:
        # Each chat user asks about a short passage of their own address; the jobs summarize others.
        jobs = [Arrival("job", 0.0, map_reduce_input(100 + job, sizes)) for job in range(sizes.mixed_jobs)]
        times = poisson(sizes.chat_users, sizes.chat_rate, seed=2)
        chats = [
            Arrival("chat", at, {"speech": speech(200 + user, sizes.chunk_chars)[1][: sizes.chunk_chars],
                                 "question": question(user)})
            for user, at in enumerate(times)
        ]  # fmt: skip
        return sorted(jobs + chats, key=lambda arrival: arrival.at)
