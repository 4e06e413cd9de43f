"""sglang-router 0.3.2, which nobody here wrote, accepts two embedded engines as SGLang workers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from parrot_backend.engines.processes import EngineProcess, RouterProcess
from tests.conftest import engine_args

pytestmark = pytest.mark.slow

# Long enough that the shared part is far above the router's 0.3 cache threshold.
SHARED = (
    "You are the assistant of a parrot sanctuary. Parrots are long-lived, social and clever birds; "
    "they need company, space to fly, a varied diet of seeds, fruit and vegetables, and toys to "
    "chew. Answer visitors' questions briefly and kindly. Question: "
)
QUESTIONS = ["What do they eat?", "How long do they live?", "Can they talk?", "Do they fly?", "Why chew?"]


@pytest.fixture(scope="module")
def cluster(tiny_model_dir) -> Iterator[tuple[RouterProcess, list[EngineProcess]]]:
    with (
        EngineProcess(engine_args(tiny_model_dir)) as first,
        EngineProcess(engine_args(tiny_model_dir)) as second,
        RouterProcess([first.url, second.url], policy="cache_aware") as router,
    ):
        yield router, [first, second]


def requests_served(engine: EngineProcess) -> float:
    for line in httpx.get(f"{engine.url}/metrics").text.splitlines():
        if line.startswith("sglang:num_requests_total"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("sglang:num_requests_total missing")


def test_router_registers_both_engines_as_healthy_workers(cluster) -> None:
    router, engines = cluster
    workers = httpx.get(f"{router.url}/workers").json()["workers"]
    assert sorted(w["url"] for w in workers) == sorted(e.url for e in engines)
    assert all(w["is_healthy"] for w in workers)
    assert httpx.get(f"{router.url}/v1/models").json()["data"][0]["id"]


def test_router_routes_generate_and_chat(cluster) -> None:
    router, _ = cluster
    params = {"max_new_tokens": 4, "temperature": 0, "ignore_eos": True}
    body = {"text": "Hello parrots", "sampling_params": params}
    generated = httpx.post(f"{router.url}/generate", timeout=60, json=body)
    assert generated.status_code == 200, generated.text
    body = generated.json()
    assert len(body["output_ids"]) == 4 and body["meta_info"]["finish_reason"]["type"] == "length"
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 3,
        "ignore_eos": True,
    }
    chat = httpx.post(f"{router.url}/v1/chat/completions", timeout=60, json=body)
    assert chat.status_code == 200, chat.text
    assert chat.json()["usage"]["completion_tokens"] == 3
    assert chat.json()["choices"][0]["message"]["role"] == "assistant"


def test_cache_aware_policy_keeps_a_shared_prefix_on_one_worker(cluster) -> None:
    router, engines = cluster
    before = [requests_served(e) for e in engines]
    cached = []
    for question in QUESTIONS:
        reply = httpx.post(f"{router.url}/generate", timeout=60, json={
            "text": SHARED + question, "sampling_params": {"max_new_tokens": 2}})  # fmt: skip
        assert reply.status_code == 200, reply.text
        cached.append(reply.json()["meta_info"]["cached_tokens"])
    served = [requests_served(e) - b for e, b in zip(engines, before, strict=True)]
    assert sorted(served) == [0, len(QUESTIONS)], served
    # Same worker, so the shared prefix comes from that worker's cache after the first request.
    assert cached[0] == 0 or cached[0] < cached[1]
    assert all(c > 0 for c in cached[1:]), cached
