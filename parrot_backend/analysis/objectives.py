"""Objectives and task groups: which calls someone is waiting for, and which calls are useful
only together."""

from __future__ import annotations

from dataclasses import dataclass

from parrot_backend.analysis.dataflow import Dataflow
from parrot_backend.program.model import Objective, Program


def call_objectives(program: Program, flow: Dataflow) -> dict[str, Objective]:
    """Each call's objective: ``latency`` if a latency output is written by it or by a call that
    depends on it (the call is on the way to an answer someone waits for), else ``throughput``."""
    producer = {call.output: call.id for call in program.calls}
    critical: set[str] = set()
    for output in program.outputs:
        call_id = producer.get(output.name)
        if output.objective == "latency" and call_id is not None:
            critical |= {call_id, *flow.ancestors(call_id)}
    return {call_id: "latency" if call_id in critical else "throughput" for call_id in flow.order}


@dataclass(frozen=True)
class TaskGroup:
    """Calls whose outputs one consumer reads together: the consumer can start only when the last
    member lands, so the members are worth releasing and finishing together."""

    consumer: str
    members: tuple[str, ...]


def task_groups(flow: Dataflow) -> list[TaskGroup]:
    """One group per call that waits on two or more siblings: the parents it reads, less those
    that are ancestors of another parent (they are done before the siblings start)."""
    groups = []
    for call_id in flow.order:
        parents = flow.parents[call_id]
        earlier = set().union(*(flow.ancestors(p) for p in parents)) if parents else set()
        members = tuple(p for p in parents if p not in earlier)
        if len(members) >= 2:
            groups.append(TaskGroup(call_id, members))
    return groups
