"""Checks a program must pass before it runs: a DAG with every reference resolved, within limits.

Each problem is a :class:`ProgramError` whose message names the call and the field, so a client
can fix its program without reading the backend's code.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

from parrot_backend.errors import ProgramError
from parrot_backend.program.model import Program, Text


@dataclass(frozen=True)
class Limits:
    """What one program may ask for. Every field can be set on ``parrot serve``."""

    max_calls: int = 512
    max_template_chars: int = 1_000_000  # all literal text and input values of a program
    max_fan_out: int = 256  # calls reading one variable
    max_new_tokens: int = 4096
    max_programs_per_tenant: int = 64  # programs running at once


def validate_program(program: Program, limits: Limits) -> list[str]:
    """Raise :class:`ProgramError` if the program cannot run; return its calls in a topological order."""
    if not program.calls:
        raise ProgramError("the program has no calls; add at least one call")
    if len(program.calls) > limits.max_calls:
        raise ProgramError(f"the program has {len(program.calls)} calls; the limit is {limits.max_calls}")
    _check_ids_and_writers(program)
    _check_references(program)
    _check_sizes(program, limits)
    return topological_order(program)


def _check_ids_and_writers(program: Program) -> None:
    ids = Counter(call.id for call in program.calls)
    duplicated = [call_id for call_id, count in ids.items() if count > 1]
    if duplicated:
        raise ProgramError(f"call id {duplicated[0]!r} is used by {ids[duplicated[0]]} calls; ids must be unique")
    writers: dict[str, str] = {}
    for call in program.calls:
        if call.output in program.inputs:
            raise ProgramError(f"call {call.id!r}: output {call.output!r} is also an input; a variable has one source")
        if call.output in writers:
            raise ProgramError(
                f"call {call.id!r}: output {call.output!r} is already written by call {writers[call.output]!r}; "
                "each variable is written once"
            )
        writers[call.output] = call.id


def _check_references(program: Program) -> None:
    known = set(program.variable_names())
    for call in program.calls:
        for name in call.reads():
            if name not in known:
                raise ProgramError(
                    f"call {call.id!r}: template references variable {name!r}, which is neither an input "
                    "nor the output of a call"
                )
            if name == call.output:
                raise ProgramError(f"call {call.id!r}: template reads its own output {name!r}")
    for output in program.outputs:
        if output.name not in known:
            raise ProgramError(f"outputs: {output.name!r} is not a variable of this program")


def _check_sizes(program: Program, limits: Limits) -> None:
    size = sum(len(value) for value in program.inputs.values())
    size += sum(len(s.text) for call in program.calls for s in call.segments() if isinstance(s, Text))
    if size > limits.max_template_chars:
        raise ProgramError(
            f"the program's templates and inputs hold {size} characters; the limit is {limits.max_template_chars}"
        )
    readers = Counter(name for call in program.calls for name in call.reads())
    for name, count in readers.items():
        if count > limits.max_fan_out:
            raise ProgramError(f"variable {name!r} is read by {count} calls; the fan-out limit is {limits.max_fan_out}")
    for call in program.calls:
        if call.sampling.max_new_tokens > limits.max_new_tokens:
            raise ProgramError(
                f"call {call.id!r}: sampling.max_new_tokens is {call.sampling.max_new_tokens}; "
                f"the limit is {limits.max_new_tokens}"
            )


def topological_order(program: Program) -> list[str]:
    """Call ids, each after the calls whose outputs it reads, declaration order among calls that
    are ready together; :class:`ProgramError` on a cycle."""
    produced = {call.output: call.id for call in program.calls}
    parents = {call.id: {produced[n] for n in call.reads() if n in produced} for call in program.calls}
    index = {call.id: i for i, call in enumerate(program.calls)}
    order: list[str] = []
    ready = [index[call_id] for call_id, its_parents in parents.items() if not its_parents]
    heapq.heapify(ready)
    children: dict[str, list[str]] = {call.id: [] for call in program.calls}
    for child, its_parents in parents.items():
        for parent in its_parents:
            children[parent].append(child)
    waiting = {call_id: len(its_parents) for call_id, its_parents in parents.items()}
    while ready:
        call_id = program.calls[heapq.heappop(ready)].id
        order.append(call_id)
        for child in children[call_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, index[child])
    if len(order) < len(program.calls):
        stuck = sorted(call_id for call_id, count in waiting.items() if count > 0)
        raise ProgramError(f"the calls {stuck} form a cycle through their variables; a program must be a DAG")
    return order
