"""Programs end to end: backend + embedded engine (tiny model), outputs compared by hand."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from parrot_integrations.client import ParrotClient, ProgramBuilder

GREEDY = {"temperature": 0.0, "ignore_eos": True}


@pytest.fixture()
def client(backend) -> ParrotClient:
    with ParrotClient(backend.url) as c:
        yield c


def by_hand(engine_url: str, text: str, max_new_tokens: int) -> str:
    """What the engine returns for the same rendered prompt sent directly."""
    body = {"text": text, "sampling_params": {"max_new_tokens": max_new_tokens, **GREEDY}}
    return httpx.post(f"{engine_url}/generate", json=body, timeout=60).json()["text"]


def test_ten_step_chain_runs_server_side(client, engine_server) -> None:
    p = ProgramBuilder()
    previous = p.input("seed", "The parrot said")
    for step in range(10):
        previous = p.call(f"Step {step}: {{{previous.name}}}", output=f"s{step}", max_new_tokens=4, **GREEDY)
    p.get(previous)
    program = p.build()
    run = client.submit(program)  # one submission ...
    final = run.get(previous)  # ... and one read
    status = run.status()
    assert status["status"] == "done"
    values = {"seed": "The parrot said"}
    for step in range(10):
        values[f"s{step}"] = client.get(run.id, f"s{step}")
        rendered = f"Step {step}: " + values["seed" if step == 0 else f"s{step - 1}"]
        assert values[f"s{step}"] == by_hand(engine_server.url, rendered, 4)
    assert final == values["s9"]
    records = {r["id"]: r for r in status["calls"]}
    gaps = [records[f"call_{i}"]["ready_at"] - records[f"call_{i - 1}"]["finished_at"] for i in range(1, 10)]
    # Dispatch follows the parent inside the backend: milliseconds, not a client round trip.
    assert statistics.median(gaps) < 0.05, gaps
    assert all(r["engine"] and r["completion_tokens"] == 4 for r in records.values())


def test_fan_out_and_fan_in(client, engine_server) -> None:
    text = "Parrots are clever birds that live long lives."
    p = ProgramBuilder()
    p.input("doc", text)
    parts = [p.call(f"Part {k} of {{doc}}", output=f"m{k}", max_new_tokens=5, **GREEDY) for k in range(4)]
    joined = " | ".join(f"{{{v.name}}}" for v in parts)
    p.get(p.call(f"Combine: {joined}", output="total", max_new_tokens=6, **GREEDY))
    run = client.submit(p)
    total = run.get("total")
    maps = [by_hand(engine_server.url, f"Part {k} of {text}", 5) for k in range(4)]
    assert [run.get(f"m{k}") for k in range(4)] == maps
    assert total == by_hand(engine_server.url, "Combine: " + " | ".join(maps), 6)
    # The four map calls were in flight together, not one after another.
    records = {r["id"]: r for r in run.status()["calls"]}
    starts = sorted(records[f"call_{k}"]["ready_at"] for k in range(4))
    assert starts[-1] - starts[0] < 0.05


def test_chat_calls(client, engine_server) -> None:
    p = ProgramBuilder()
    p.input("q", "What do parrots eat?")
    p.get(p.chat([("system", "You are terse."), ("user", "{q}")], output="a", max_new_tokens=6, **GREEDY))
    p.get(p.chat([("user", "Rephrase: {a}")], output="b", max_new_tokens=5, **GREEDY))
    values = client.run(p)

    def direct(messages: list[dict], max_tokens: int) -> str:
        body = {"messages": messages, "max_tokens": max_tokens, **GREEDY}
        reply = httpx.post(f"{engine_server.url}/v1/chat/completions", timeout=60, json=body).json()
        return reply["choices"][0]["message"]["content"]

    system = {"role": "system", "content": "You are terse."}
    assert values["a"] == direct([system, {"role": "user", "content": "What do parrots eat?"}], 6)
    assert values["b"] == direct([{"role": "user", "content": f"Rephrase: {values['a']}"}], 5)


def test_streaming_a_variable(client) -> None:
    p = ProgramBuilder()
    p.input("x", "Stream me")
    out = p.call("Go: {x}", output="long", max_new_tokens=60, **GREEDY)
    run = client.submit(p.build())
    deltas = list(run.stream(out))
    assert len(deltas) > 1
    assert "".join(deltas) == run.get(out)


def test_cancel_aborts_and_fails_reads(client) -> None:
    p = ProgramBuilder()
    p.input("x", "long")
    first = p.call("A {x}", output="first", max_new_tokens=500, **GREEDY)
    p.call("B {first}", output="second", max_new_tokens=500, **GREEDY)
    run = client.submit(p.build())
    next(iter(run.stream(first)))  # running now
    assert run.cancel()["status"] == "cancelled"
    from parrot_backend.errors import CallFailedError

    with pytest.raises(CallFailedError, match="cancelled"):
        run.get("second")
    assert run.status()["status"] == "cancelled"


def test_single_calls_through_openai_routes(backend) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "ignore_eos": True}
    reply = httpx.post(f"{backend.url}/v1/chat/completions", timeout=60, json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["completion_tokens"] == 4
    completion = httpx.post(f"{backend.url}/v1/completions", timeout=60, json={"prompt": "Hello", "max_tokens": 3})
    assert completion.status_code == 200 and completion.json()["choices"][0]["text"] is not None


def test_engines_listed_with_health_and_load(backend) -> None:
    engines = httpx.get(f"{backend.url}/v1/engines").json()["engines"]
    assert len(engines) == 1 and engines[0]["healthy"] and engines[0]["kind"] == "sglang"
    assert "parrot_programs" in httpx.get(f"{backend.url}/metrics").text


def test_timeline_times_are_ordered(client) -> None:
    p = ProgramBuilder()
    p.input("x", "a")
    p.call("Q {x}", output="y", max_new_tokens=3, **GREEDY)
    run = client.submit(p.build())
    run.get("y")
    record = run.status()["calls"][0]
    assert record["ready_at"] <= record["started_at"] <= record["finished_at"] <= time.time()
    assert record["prompt_tokens"] > 0


def test_calls_sharing_a_prefix_hit_the_engine_cache(client) -> None:
    shared = "You are the archivist of a parrot sanctuary and you answer in one short line. " * 3
    p = ProgramBuilder()
    p.input("doc", shared)
    first = p.call("{doc} Question one:", output="one", max_new_tokens=2, **GREEDY)
    p.call("{doc} Question two: {one}", output="two", max_new_tokens=2, **GREEDY)
    run = client.submit(p)
    run.get("two")
    records = {r["id"]: r for r in run.status()["calls"]}
    assert first.name == "one"
    # The second call's prompt starts with the first one's: the engine serves it from its cache.
    assert records["call_1"]["cached_tokens"] >= 16


def test_several_values_in_one_read(client, backend) -> None:
    p = ProgramBuilder()
    p.input("doc", "Parrots nest in tree holes.")
    first = p.call("One word for {doc}", output="first", max_new_tokens=3, **GREEDY)
    second = p.call("Another for {first}", output="second", max_new_tokens=3, **GREEDY)
    run = client.submit(p)
    values = run.get_many([first, second, "doc"])
    assert values == {"first": run.get(first), "second": run.get(second), "doc": "Parrots nest in tree holes."}
    url = f"{backend.url}/v1/programs/{run.id}/values"
    missing = httpx.get(url, params={"names": ["first", "nope"]})
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    assert httpx.get(url).status_code == 422  # names are required
    slow = ProgramBuilder()
    slow.input("x", "go")
    slow.call("{x}", output="long", max_new_tokens=400, **GREEDY)
    slow_run = client.submit(slow)
    late = httpx.get(f"{backend.url}/v1/programs/{slow_run.id}/values", params={"names": ["long"], "timeout": 0.05})
    assert late.status_code == 408
    slow_run.cancel()
