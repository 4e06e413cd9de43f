"""A program's calls as a graph: which call reads which call's output, and the longest chain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from parrot_backend.program.model import Call, Program
from parrot_backend.program.validate import topological_order


@dataclass(frozen=True)
class Dataflow:
    """Calls by id, with the calls each one reads from (parents) and feeds (children).

    ``order`` is the validator's topological order (parents before children, declaration order
    among calls ready together)."""

    calls: Mapping[str, Call]
    parents: Mapping[str, tuple[str, ...]]
    children: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]

    def roots(self) -> list[str]:
        """Calls that read no other call's output: ready as soon as the program arrives."""
        return [call_id for call_id in self.order if not self.parents[call_id]]

    def ancestors(self, call_id: str) -> set[str]:
        """Every call whose output ``call_id`` depends on, directly or not."""
        seen: set[str] = set()
        stack = list(self.parents[call_id])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.parents[current])
        return seen


def dataflow(program: Program) -> Dataflow:
    """The graph of ``program``'s calls (assumed validated: unique outputs; a cycle raises
    :class:`~parrot_backend.errors.ProgramError`)."""
    producer = {call.output: call.id for call in program.calls}
    calls = {call.id: call for call in program.calls}
    parents = {
        call.id: tuple(dict.fromkeys(producer[name] for name in call.reads() if name in producer))
        for call in program.calls
    }
    children: dict[str, list[str]] = {call_id: [] for call_id in calls}
    for call_id, ups in parents.items():
        for up in ups:
            children[up].append(call_id)
    children_of = {k: tuple(v) for k, v in children.items()}
    return Dataflow(calls, parents, children_of, tuple(topological_order(program)))


def expected_tokens(call: Call) -> float:
    """A call's cost when nothing better is known: the tokens it may generate."""
    return float(call.sampling.max_new_tokens)


def critical_path(flow: Dataflow, cost: Callable[[Call], float] = expected_tokens) -> tuple[float, list[str]]:
    """The chain of dependent calls with the largest total ``cost``: its cost and its call ids."""
    best: dict[str, tuple[float, list[str]]] = {}
    for call_id in flow.order:
        before = max((best[p] for p in flow.parents[call_id]), key=lambda item: item[0], default=(0.0, []))
        best[call_id] = (before[0] + cost(flow.calls[call_id]), [*before[1], call_id])
    return max(best.values(), key=lambda item: item[0], default=(0.0, []))
