"""``parrot engine`` over real HTTP, in SGLang's shapes, on the tiny model."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import BLOCK_SIZE, NUM_BLOCKS

GREEDY = {"temperature": 0.0, "ignore_eos": True}


def ids(seed: int, length: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(4, 300) for _ in range(length)]


@pytest.fixture(scope="module")
def client(engine_server) -> httpx.Client:
    with httpx.Client(base_url=engine_server.url, timeout=60) as c:
        yield c


def generate(client: httpx.Client, **body) -> dict:
    response = client.post("/generate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def sse(response: httpx.Response) -> list:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def test_health_and_info_routes(client) -> None:
    health = client.get("/health")
    assert health.status_code == 200 and health.content == b""
    for route in ("/model_info", "/get_model_info"):
        info = client.get(route).json()
        assert info["is_generation"] is True and info["model_path"]
    for route in ("/server_info", "/get_server_info"):
        info = client.get(route).json()
        assert info["page_size"] == BLOCK_SIZE
        assert info["max_total_num_tokens"] == BLOCK_SIZE * NUM_BLOCKS
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["object"] == "model"


def test_generate_shape(client) -> None:
    result = generate(client, text="The quick brown fox", rid="shape-1", return_prompt_token_ids=True,
                      sampling_params={"max_new_tokens": 5, **GREEDY})  # fmt: skip
    assert len(result["output_ids"]) == 5 and isinstance(result["text"], str)
    meta = result["meta_info"]
    assert meta["id"] == "shape-1"
    assert meta["finish_reason"] == {"type": "length", "length": 5}
    assert meta["completion_tokens"] == 5 and meta["prompt_tokens"] == len(result["prompt_token_ids"])
    assert meta["cached_tokens"] >= 0 and meta["e2e_latency"] > 0


def test_text_and_ids_give_the_same_tokens(client) -> None:
    by_text = generate(client, text="Shared prompt prefixes", return_prompt_token_ids=True,
                       sampling_params={"max_new_tokens": 6, **GREEDY})  # fmt: skip
    by_ids = generate(client, input_ids=by_text["prompt_token_ids"], sampling_params={"max_new_tokens": 6, **GREEDY})
    assert by_ids["output_ids"] == by_text["output_ids"]


def test_batch_returns_results_in_order(client) -> None:
    prompts = [ids(i, 8 + 5 * i) for i in range(5)]
    singles = [generate(client, input_ids=p, sampling_params={"max_new_tokens": 6, **GREEDY}) for p in prompts]
    batch = generate(client, input_ids=prompts, sampling_params={"max_new_tokens": 6, **GREEDY})
    assert isinstance(batch, list) and len(batch) == 5
    assert [r["output_ids"] for r in batch] == [r["output_ids"] for r in singles]
    texts = generate(client, text=["first prompt", "second one"], sampling_params=[
        {"max_new_tokens": 2, **GREEDY}, {"max_new_tokens": 4, **GREEDY}])  # fmt: skip
    assert [len(r["output_ids"]) for r in texts] == [2, 4]


def test_stream_is_cumulative_and_ends_with_done(client) -> None:
    body = {"input_ids": ids(40, 10), "stream": True, "sampling_params": {"max_new_tokens": 8, **GREEDY}}
    with client.stream("POST", "/generate", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len(chunks) >= 2
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after["text"].startswith(before["text"])
        assert after["output_ids"][: len(before["output_ids"])] == before["output_ids"]
    assert all(c["meta_info"]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["meta_info"]["finish_reason"] == {"type": "length", "length": 8}
    plain = generate(client, input_ids=body["input_ids"], sampling_params=body["sampling_params"])
    assert chunks[-1]["output_ids"] == plain["output_ids"] and chunks[-1]["text"] == plain["text"]


async def test_sixteen_concurrent_requests_are_all_correct(engine_server, client) -> None:
    prompts = [ids(200 + i, 6 + 3 * i) for i in range(16)]
    expected = [generate(client, input_ids=p, sampling_params={"max_new_tokens": 10, **GREEDY}) for p in prompts]
    params = {"max_new_tokens": 10, **GREEDY}
    async with httpx.AsyncClient(base_url=engine_server.url, timeout=60) as aclient:
        responses = await asyncio.gather(
            *(aclient.post("/generate", json={"input_ids": p, "sampling_params": params}) for p in prompts)
        )
    assert [r.status_code for r in responses] == [200] * 16
    assert [r.json()["output_ids"] for r in responses] == [e["output_ids"] for e in expected]


def test_prefix_cache_and_flush_over_http(client) -> None:
    assert client.post("/flush_cache").status_code == 200
    prompt = ids(50, 80)
    first = generate(client, input_ids=prompt, sampling_params={"max_new_tokens": 3, **GREEDY})
    second = generate(client, input_ids=prompt, sampling_params={"max_new_tokens": 3, **GREEDY})
    assert first["meta_info"]["cached_tokens"] == 0
    assert second["meta_info"]["cached_tokens"] >= (len(prompt) - 1) // BLOCK_SIZE * BLOCK_SIZE
    warm = generate(client, input_ids=ids(51, 48), sampling_params={"max_new_tokens": 0})
    assert warm["output_ids"] == [] and warm["meta_info"]["completion_tokens"] == 0
    follow = generate(client, input_ids=ids(51, 48) + [7, 8, 9], sampling_params={"max_new_tokens": 2})
    assert follow["meta_info"]["cached_tokens"] >= 48
    assert client.post("/flush_cache").status_code == 200
    again = generate(client, input_ids=prompt, sampling_params={"max_new_tokens": 3, **GREEDY})
    assert again["meta_info"]["cached_tokens"] == 0


@contextmanager
def long_stream(url: str, seed: int, **extra) -> Iterator[Iterator[str]]:
    """A streamed generation of 1,800 tokens, on its own connection, after its first event."""
    body = {"input_ids": ids(seed, 10), "stream": True, "sampling_params": {"max_new_tokens": 1800, **GREEDY}}
    with (
        httpx.Client(base_url=url, timeout=60) as own,
        own.stream("POST", "/generate", json={**body, **extra}) as r,
    ):
        lines = r.iter_lines()  # keep a reference: a closed iterator closes the stream
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first.removeprefix("data: "))["meta_info"]["finish_reason"] is None
        yield lines


def test_abort_request_ends_a_running_stream(client, engine_server) -> None:
    with long_stream(engine_server.url, 60, rid="to-abort") as lines:
        assert client.post("/abort_request", json={"rid": "to-abort"}).status_code == 200
        rest = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert rest[-1]["meta_info"]["finish_reason"]["type"] == "abort"
    assert len(rest[-1]["output_ids"]) < 1800


def running_requests(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("sglang:num_running_reqs"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("sglang:num_running_reqs missing from /metrics")


def test_client_disconnect_mid_stream_frees_the_slot(client, engine_server) -> None:
    with long_stream(engine_server.url, 61):
        assert running_requests(client) >= 1
    # Leaving the block closed the connection mid-stream.
    deadline = time.monotonic() + 10
    while running_requests(client) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_requests(client) == 0
    assert client.post("/flush_cache").status_code == 200  # idle again


def test_flush_is_refused_while_a_request_runs(client, engine_server) -> None:
    with long_stream(engine_server.url, 62):
        refused = client.post("/flush_cache")
        assert refused.status_code == 400 and "running" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"input_ids": [5] * 3000}, "longer than"),
        ({"text": ""}, "empty"),
        ({"sampling_params": {"max_new_tokens": 2}}, "exactly one of text or input_ids"),
        ({"text": "hi", "input_ids": [5]}, "exactly one of text or input_ids"),
        ({"text": "hi", "sampling_params": {"max_new_tokens": -1}}, "max_new_tokens"),
        ({"text": "hi", "sampling_params": {"max_new_tokens": 2.5}}, "max_new_tokens"),
        ({"text": "hi", "sampling_params": {"max_tokens": 2}}, "allowed keys are"),
        ({"text": "hi", "sampling_params": {"temperature": "hot"}}, "temperature"),
        ({"input_ids": [5, 999999]}, "vocabulary"),
        ({"text": ["a", "b"], "rid": ["only-one"]}, "rid has 1 items"),
        ({"text": "hi", "return_logprob": True}, "return_logprob"),
    ],
)
def test_bad_input_gets_a_400_that_says_what_to_fix(client, body, words) -> None:
    response = client.post("/generate", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
    assert client.get("/health").status_code == 200


def test_malformed_json_and_bad_abort(client) -> None:
    response = client.post("/generate", content=b'{"text": "hi", ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]["message"]
    assert client.post("/abort_request", content=b"[1]").status_code == 400
    # curl -d labels JSON as a form; it is read as JSON all the same.
    form = client.post("/generate", content=b'{"text": "hi", "sampling_params": {"max_new_tokens": 1}}',
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 200


def test_openai_completions(client) -> None:
    reply = client.post("/v1/completions", json={"prompt": "The quick brown", "max_tokens": 4, "temperature": 0})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["object"] == "text_completion"
    assert body["choices"][0]["finish_reason"] == "length" and isinstance(body["choices"][0]["text"], str)
    assert body["usage"]["completion_tokens"] == 4
    assert "cached_tokens" in body["usage"]["prompt_tokens_details"]
    default = client.post("/v1/completions", json={"prompt": [5, 6, 7], "ignore_eos": True}).json()
    assert default["usage"]["completion_tokens"] == 16  # OpenAI's default max_tokens
    many = client.post("/v1/completions", json={"prompt": ["one", "two"], "max_tokens": 2}).json()
    assert [c["index"] for c in many["choices"]] == [0, 1]
    bad = client.post("/v1/completions", json={"prompt": "x", "temperature": "warm"})
    assert bad.status_code == 400 and "temperature" in bad.json()["error"]["message"]


def test_openai_chat_completions(client) -> None:
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi"}]
    body = {"messages": messages, "max_tokens": 5, "temperature": 0, "ignore_eos": True}
    reply = client.post("/v1/chat/completions", json=body).json()
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["role"] == "assistant"
    assert reply["usage"]["completion_tokens"] == 5
    again = client.post("/v1/chat/completions", json=body).json()
    assert again["choices"][0]["message"] == reply["choices"][0]["message"]
    assert again["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    # sglang-router sends max_completion_tokens instead of max_tokens.
    routed = client.post("/v1/chat/completions", json={**body, "max_tokens": None, "max_completion_tokens": 3})
    assert routed.json()["usage"]["completion_tokens"] == 3
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 400


def test_openai_chat_stream(client) -> None:
    body = {"messages": [{"role": "user", "content": "Count"}], "max_tokens": 6, "temperature": 0,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        events = sse(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    plain = client.post("/v1/chat/completions", json={**body, "stream": False}).json()
    assert text == plain["choices"][0]["message"]["content"]


def test_metrics_exposition(client) -> None:
    generate(client, text="metrics please", sampling_params={"max_new_tokens": 2})
    text = client.get("/metrics").text
    for name in ("sglang:prompt_tokens_total", "sglang:cached_tokens_total", "sglang:generation_tokens_total",
                 "sglang:num_running_reqs", "sglang:num_queue_reqs"):  # fmt: skip
        assert name in text
    assert float(text.split("sglang:generation_tokens_total{", 1)[1].split("} ", 1)[1].split()[0]) > 0


def test_tokenize_counts_what_generate_reads(client) -> None:
    text = "The quick brown fox"
    prompt_ids = generate(client, text=text, return_prompt_token_ids=True,
                          sampling_params={"max_new_tokens": 1})["prompt_token_ids"]  # fmt: skip
    info = client.get("/server_info").json()
    # The longest prompt plus output it serves: the context or the KV cache, less the loop's room.
    context = min(info["context_length"], info["max_total_num_tokens"] or info["context_length"]) - 2
    assert client.get("/v1/models").json()["data"][0]["max_model_len"] == context
    too_long = client.post(
        "/generate", json={"input_ids": [1] * (context + 1), "sampling_params": {"max_new_tokens": 1}}
    )
    assert too_long.status_code == 400 and f"limit of {context} tokens" in too_long.json()["error"]["message"]
    single = client.post("/tokenize", json={"prompt": text})
    assert single.status_code == 200, single.text
    assert single.json() == {"tokens": prompt_ids, "count": len(prompt_ids), "max_model_len": context}
    # The tiny tokenizer adds no special tokens, so turning them off changes nothing here.
    assert client.post("/tokenize", json={"prompt": text, "add_special_tokens": False}).json()["tokens"] == prompt_ids
    many = client.post("/tokenize", json={"prompt": [text, "Map steps", ""]}).json()
    assert many["tokens"][0] == prompt_ids and many["tokens"][2] == []
    assert many["count"] == [len(ids) for ids in many["tokens"]] and many["count"][1] > 0
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi"}]
    chat = client.post("/tokenize", json={"messages": messages}).json()
    served = client.post("/v1/chat/completions", json={"messages": messages, "max_tokens": 1}).json()
    assert chat["count"] == len(chat["tokens"]) == served["usage"]["prompt_tokens"]
    assert chat["max_model_len"] == context


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "exactly one of prompt"),
        ({"prompt": "hi", "messages": [{"role": "user", "content": "hi"}]}, "exactly one of prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "hi", "add_special_tokens": "yes"}, "add_special_tokens"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "role"),
        ({"messages": []}, "at least 1 item"),
    ],
)
def test_tokenize_bad_bodies_get_a_400(client, body, words) -> None:
    response = client.post("/tokenize", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
