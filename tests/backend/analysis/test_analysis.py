"""Program analysis on hand-built programs: dataflow, critical path, objectives, task groups and
shared prompt prefixes."""

from __future__ import annotations

from typing import Any

import pytest

from parrot_backend.analysis import (
    PrefixGroup,
    PrefixTree,
    call_objectives,
    critical_path,
    dataflow,
    prompt_key,
    task_groups,
)
from parrot_backend.errors import ProgramError
from parrot_backend.program.model import Program

BRIEF = "You are one agent of a team. The brief: build a searchable archive of addresses. "


def chat(call_id: str, output: str, system: list[dict], user: list[dict], tokens: int = 16) -> dict[str, Any]:
    return {
        "id": call_id,
        "output": output,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "sampling": {"max_new_tokens": tokens},
    }


def team(outputs: list[dict] | None = None) -> Program:
    """architect -> 2 engineers -> 2 reviewers -> integrator, brief and spec shared."""
    shared = [{"text": BRIEF}, {"text": "Spec: "}, {"var": "spec"}]
    calls = [
        chat("architect", "spec", [{"text": BRIEF}], [{"text": "Write the spec."}], tokens=32),
        chat("eng0", "code0", shared, [{"text": "Write the parser."}], tokens=64),
        chat("eng1", "code1", shared, [{"text": "Write the storage."}], tokens=16),
        chat("rev0", "review0", shared, [{"text": "Review: "}, {"var": "code0"}], tokens=8),
        chat("rev1", "review1", shared, [{"text": "Review: "}, {"var": "code1"}], tokens=8),
        chat("merge", "final", shared, [{"var": "code0"}, {"var": "review0"}, {"var": "code1"}, {"var": "review1"}]),
    ]
    return Program.model_validate(
        {"calls": calls, "outputs": outputs if outputs is not None else [{"name": "final"}]}, strict=False
    )


def test_dataflow_orders_calls_after_what_they_read() -> None:
    flow = dataflow(team())
    assert flow.order == ("architect", "eng0", "eng1", "rev0", "rev1", "merge")
    assert flow.parents["rev0"] == ("architect", "eng0")  # the spec, then the code
    assert flow.parents["merge"] == ("architect", "eng0", "rev0", "eng1", "rev1")
    assert flow.children["architect"] == ("eng0", "eng1", "rev0", "rev1", "merge")
    assert flow.roots() == ["architect"]
    assert flow.ancestors("merge") == {"architect", "eng0", "eng1", "rev0", "rev1"}


def test_critical_path_follows_the_most_expensive_chain() -> None:
    flow = dataflow(team())
    # architect 32 + eng0 64 + rev0 8 + merge 16: the parser branch, not the storage one.
    assert critical_path(flow) == (120.0, ["architect", "eng0", "rev0", "merge"])
    seconds, path = critical_path(flow, cost=lambda call: 1.0)
    assert seconds == 4.0 and path[0] == "architect" and path[-1] == "merge"


def test_a_latency_output_makes_its_ancestors_latency_critical() -> None:
    everything = call_objectives(team(), dataflow(team()))
    assert set(everything.values()) == {"latency"}
    program = team([{"name": "review1", "objective": "latency"}, {"name": "final", "objective": "throughput"}])
    objectives = call_objectives(program, dataflow(program))
    assert objectives == {
        "architect": "latency", "eng0": "throughput", "eng1": "latency", "rev0": "throughput",
        "rev1": "latency", "merge": "throughput",
    }  # fmt: skip
    nobody_waits = team([])
    assert set(call_objectives(nobody_waits, dataflow(nobody_waits)).values()) == {"throughput"}


def test_siblings_feeding_one_consumer_form_a_task_group() -> None:
    groups = task_groups(dataflow(team()))
    # merge reads five outputs, but the architect and the engineers finish before the reviewers
    # start: the reviewers are the group it waits on. rev0 reads the spec and code0, one after
    # the other: no group.
    assert [(g.consumer, g.members) for g in groups] == [("merge", ("rev0", "rev1"))]


def test_a_cycle_is_refused() -> None:
    program = Program.model_validate(
        {"calls": [
            {"id": "a", "output": "x", "template": [{"var": "y"}]},
            {"id": "b", "output": "y", "template": [{"var": "x"}]},
        ]}, strict=False,
    )  # fmt: skip
    with pytest.raises(ProgramError, match="form a cycle"):
        dataflow(program)


def test_prompt_keys_share_resolved_prefixes_within_one_tenant_only() -> None:
    program = team()
    calls = {call.id: call for call in program.calls}
    tree = PrefixTree()
    pending = {call_id: prompt_key("alice", calls[call_id], {}, "p1") for call_id in ("eng0", "eng1", "rev0")}
    for call_id, key in pending.items():
        tree.insert(key, call_id)
    # Before the spec exists, the three share the brief and the spec's place in this program; the
    # engineers share their user message's start too ("Write the ").
    engineers, everyone = tree.groups(min_chars=len(BRIEF))
    assert set(everyone.calls) == {"eng0", "eng1", "rev0"} and everyone.chars > len(BRIEF)
    assert set(engineers.calls) == {"eng0", "eng1"} and engineers.chars == everyone.chars + len("Write the ")
    # Another program's pending spec is a different value: only the literal brief is shared.
    other = PrefixTree()
    other.insert(prompt_key("alice", calls["eng0"], {}, "p1"), "eng0@p1")
    other.insert(prompt_key("alice", calls["eng0"], {}, "p2"), "eng0@p2")
    (shared,) = other.groups(min_chars=10)
    key = prompt_key("alice", calls["eng0"], {}, "p1")
    until_spec = key.index("\x1f") - len("alice\x1d")  # the system role marker, the brief, "Spec: "
    assert shared.chars == until_spec + len("\x1fp")  # and the marker's start, up to the ids' "p"
    # Once resolved to the same text, two programs' calls share it all the way.
    same = PrefixTree()
    for pid in ("p1", "p2"):
        same.insert(prompt_key("alice", calls["eng0"], {"spec": "S" * 40}, pid), f"eng0@{pid}")
    assert same.groups(min_chars=10)[0].calls == ("eng0@p1", "eng0@p2")
    # Two tenants never share, however alike their prompts.
    tenants = PrefixTree()
    tenants.insert(prompt_key("alice", calls["architect"], {}), "a")
    tenants.insert(prompt_key("bob", calls["architect"], {}), "b")
    assert tenants.groups(min_chars=0) == []


def test_prefix_tree_groups_and_longest_match() -> None:
    tree = PrefixTree()
    for item, key in [("a", "t\x1dabcdef"), ("b", "t\x1dabcxyz"), ("c", "t\x1dabcdeq"), ("d", "t\x1dzzz")]:
        tree.insert(key, item)
    tree.insert("t\x1dabcdef", "a2")  # the same prompt twice
    assert len(tree) == 5
    assert tree.groups(min_chars=3) == [
        PrefixGroup(6, ("a", "a2")), PrefixGroup(5, ("a", "a2", "c")), PrefixGroup(3, ("a", "a2", "c", "b")),
    ]  # fmt: skip
    assert tree.groups(min_chars=4) == [PrefixGroup(6, ("a", "a2")), PrefixGroup(5, ("a", "a2", "c"))]
    assert tree.longest_match("t\x1dabcdzz") == len("t\x1dabcd")
    assert tree.longest_match("u") == 0
