"""The scheduler's policies end to end: two tiny engines behind the backend, the engines' own
cache accounting as the evidence."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from parrot_backend.cli import app as cli
from parrot_backend.engines.processes import BackendProcess, EngineProcess
from parrot_integrations.client import ParrotClient, ProgramBuilder
from tests.conftest import BLOCK_SIZE, engine_args

GREEDY = {"temperature": 0.0, "ignore_eos": True}
DOC = "The parrot sanctuary keeps records of every bird, its name, its age and its favourite seed. " * 4


@pytest.fixture(scope="module")
def engines(tiny_model_dir) -> Iterator[list[EngineProcess]]:
    with EngineProcess(engine_args(tiny_model_dir)) as one, EngineProcess(engine_args(tiny_model_dir)) as two:
        yield [one, two]


def flush(engines: list[EngineProcess]) -> None:
    for engine in engines:
        httpx.post(f"{engine.url}/flush_cache", timeout=30).raise_for_status()


def siblings(count: int) -> ProgramBuilder:
    p = ProgramBuilder()
    p.input("doc", DOC)
    for i in range(count):
        p.call(f"{{doc}} Question {i}: which bird?", output=f"a{i}", max_new_tokens=3, **GREEDY)
    return p


def records(client: ParrotClient, builder: ProgramBuilder, outputs: list[str]) -> list[dict]:
    run = client.submit(builder)
    run.get_many(outputs)
    return run.status()["calls"]


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))


def test_siblings_are_spread_warmed_once_per_engine_then_served_from_cache(engines) -> None:
    urls = [e.url for e in engines]
    flush(engines)
    with BackendProcess(urls) as backend, ParrotClient(backend.url) as client:
        calls = records(client, siblings(4), [f"a{i}" for i in range(4)])
        later = records(client, siblings(1), ["a0"])[0]  # another program, the same document
        text = httpx.get(f"{backend.url}/metrics").text
    assert {c["engine"] for c in calls} == {"engine-1", "engine-2"}  # spread over both
    assert all(c["warmed"] for c in calls)
    prefix_blocks = len(DOC) // 4 // BLOCK_SIZE  # the tiny tokenizer: about 4 characters a token, at least
    assert all(c["cached_tokens"] >= prefix_blocks * BLOCK_SIZE for c in calls), calls
    assert metric(text, "parrot_warmups_total") == 2
    # Both engines hold the document now: load decides, and either serves it from cache.
    assert later["placed_by"] == "least-loaded" and later["matched_chars"] > len(DOC)
    assert later["cached_tokens"] >= prefix_blocks * BLOCK_SIZE
    assert metric(text, "parrot_cache_hit_rate") > 0.5

    # The same program with warm-up off: the first call on each engine computes the prefix itself
    # (calls admitted together do not share it), the same outputs come back.
    flush(engines)
    with BackendProcess(urls, ["--disable", "warmup"]) as backend, ParrotClient(backend.url) as client:
        cold = records(client, siblings(4), [f"a{i}" for i in range(4)])
        assert metric(httpx.get(f"{backend.url}/metrics").text, "parrot_warmups_total") == 0
    assert not any(c["warmed"] for c in cold)
    assert sum(c["cached_tokens"] for c in cold) < sum(c["cached_tokens"] for c in calls)


def test_a_tenants_prefix_draws_its_later_programs_and_no_other_tenants(engines) -> None:
    flush(engines)
    keys = ["--api-key", "ka=alice", "--api-key", "kb=bob"]
    with BackendProcess([e.url for e in engines], keys) as backend:
        with ParrotClient(backend.url, api_key="ka") as alice, ParrotClient(backend.url, api_key="kb") as bob:
            first = records(alice, siblings(1), ["a0"])[0]
            later = records(alice, siblings(1), ["a0"])[0]
            other = records(bob, siblings(1), ["a0"])[0]
        text = httpx.get(f"{backend.url}/metrics").text
    assert later["engine"] == first["engine"] and later["placed_by"] == "affinity"
    # (The embedded engine keeps namespaced requests out of its cache altogether, so no cached
    # tokens here; the scheduler still knows where alice's prompts went.)
    assert later["matched_chars"] > len(DOC)
    assert other["matched_chars"] == 0 and other["placed_by"] == "least-loaded"  # nothing of alice's
    assert metric(text, 'parrot_placements_total{policy="affinity"}') >= 1
    ideal = metric(text, 'parrot_prefill_chars_total{kind="ideal"}')
    sent = metric(text, 'parrot_prefill_chars_total{kind="sent"}')
    assert len(DOC) < ideal < sent  # alice's second prompt added only its differences; bob's counted whole
    assert metric(text, 'parrot_queue_length{objective="latency"}') == 0


def test_objectives_come_from_the_outputs(engines) -> None:
    with BackendProcess([engines[0].url]) as backend, ParrotClient(backend.url) as client:
        p = ProgramBuilder()
        p.input("doc", "Parrots")
        notes = p.call("Notes on {doc}", output="notes", max_new_tokens=2, **GREEDY)
        answer = p.call("Answer from {notes}", output="answer", max_new_tokens=2, **GREEDY)
        side = p.call("A side job on {doc}", output="side", max_new_tokens=2, **GREEDY)
        p.get(answer, objective="latency")
        p.get(side, objective="throughput")
        run = client.submit(p)
        run.get_many(["answer", "side", notes])
        objectives = {c["id"]: c["objective"] for c in run.status()["calls"]}
    assert objectives == {"call_0": "latency", "call_1": "latency", "call_2": "throughput"}


def test_bad_scheduler_options_are_refused() -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["serve", "--engine", "http://127.0.0.1:9", "--disable", "prefetch"])
    assert unknown.exit_code == 2 and "unknown scheduler policy prefetch" in unknown.output
    zero = runner.invoke(cli, ["serve", "--engine", "http://127.0.0.1:9", "--throughput-cap", "0"])
    assert zero.exit_code == 2 and "throughput_cap" in zero.output
