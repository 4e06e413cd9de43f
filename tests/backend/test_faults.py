"""Engines failing under a program, a router as one engine, tenants kept apart."""

from __future__ import annotations

import time

import httpx
import pytest

from parrot_backend.engines.processes import BackendProcess, EngineProcess, RouterProcess
from parrot_backend.errors import AuthenticationError, NotFoundError
from parrot_integrations.client import ParrotClient, ProgramBuilder
from tests.conftest import engine_args

pytestmark = pytest.mark.slow

GREEDY = {"temperature": 0.0, "ignore_eos": True}


def chain(steps: int, tokens: int) -> ProgramBuilder:
    p = ProgramBuilder()
    previous = p.input("seed", "Once upon a time")
    for step in range(steps):
        previous = p.call(f"Next {step}: {{{previous.name}}}", output=f"s{step}", max_new_tokens=tokens, **GREEDY)
    p.get(previous)
    return p


def test_a_program_survives_an_engine_stopping_mid_run(tiny_model_dir) -> None:
    first, second = EngineProcess(engine_args(tiny_model_dir)), EngineProcess(engine_args(tiny_model_dir))
    with first, second, BackendProcess([first.url, second.url], ["--max-new-tokens", "2000"]) as backend:
        client = ParrotClient(backend.url)
        program = chain(4, 400).build()
        run = client.submit(program)
        # Wait until a call runs, then stop the engine running it.
        victim = None
        deadline = time.monotonic() + 30
        while victim is None and time.monotonic() < deadline:
            engines = httpx.get(f"{backend.url}/v1/engines").json()["engines"]
            busy = [e for e in engines if e["in_flight"] > 0]
            victim = busy[0] if busy else None
            time.sleep(0.05)
        assert victim is not None
        (first if victim["url"] == first.url else second).stop()
        values = {f"s{i}": run.get(f"s{i}", timeout=120) for i in range(4)}
        status = run.status()
        assert status["status"] == "done"
        assert all(values.values()) and all(v["state"] == "done" for v in status["variables"].values())
        engines = {e["url"]: e for e in httpx.get(f"{backend.url}/v1/engines").json()["engines"]}
        assert engines[victim["url"]]["failures"] >= 1 and not engines[victim["url"]]["healthy"]
        # Drain the dead engine out of the pool; the survivor keeps serving.
        drained = httpx.delete(f"{backend.url}/v1/engines/{engines[victim['url']]['id']}", timeout=30)
        assert drained.status_code == 200 and drained.json()["removed"]
        assert [e["url"] for e in httpx.get(f"{backend.url}/v1/engines").json()["engines"]] != [victim["url"]]
        assert len(httpx.get(f"{backend.url}/v1/engines").json()["engines"]) == 1
        assert client.run(chain(1, 3))["s0"]
        client.close()


def test_sglang_router_works_as_one_engine(tiny_model_dir) -> None:
    first, second = EngineProcess(engine_args(tiny_model_dir)), EngineProcess(engine_args(tiny_model_dir))
    with (
        first,
        second,
        RouterProcess([first.url, second.url]) as router,
        BackendProcess([router.url]) as backend,
    ):
        engines = httpx.get(f"{backend.url}/v1/engines").json()["engines"]
        assert [(e["url"], e["kind"]) for e in engines] == [(router.url, "sglang")]
        with ParrotClient(backend.url) as client:
            run = client.submit(chain(3, 4))
            values = {f"s{i}": run.get(f"s{i}") for i in range(3)}
        # Each step equals what either engine gives for the same prompt sent by hand.
        previous = "Once upon a time"
        for step in range(3):
            body = {"text": f"Next {step}: {previous}", "sampling_params": {"max_new_tokens": 4, **GREEDY}}
            assert values[f"s{step}"] == httpx.post(f"{first.url}/generate", json=body, timeout=60).json()["text"]
            previous = values[f"s{step}"]


def test_tenants_need_keys_and_cannot_see_each_other(engine_server) -> None:
    keys = ["--api-key", "key-a=alice", "--api-key", "key-b=bob", "--admin-key", "root"]
    with BackendProcess([engine_server.url], keys) as backend:
        with pytest.raises(AuthenticationError, match="API key"):
            ParrotClient(backend.url).submit(chain(1, 2))
        alice, bob = ParrotClient(backend.url, api_key="key-a"), ParrotClient(backend.url, api_key="key-b")
        run = alice.submit(chain(1, 2))
        assert alice.get(run.id, "s0")
        with pytest.raises(NotFoundError):
            bob.status(run.id)
        with pytest.raises(NotFoundError):
            bob.get(run.id, "s0")
        # Engines are shared: tenants may not list, add or drain them; an admin key may.
        engines = f"{backend.url}/v1/engines"
        assert httpx.get(engines, headers={"Authorization": "Bearer key-a"}).status_code == 403
        assert (
            httpx.post(
                engines, json={"url": "http://127.0.0.1:9"}, headers={"Authorization": "Bearer key-b"}
            ).status_code
            == 403
        )
        assert httpx.get(engines).status_code == 401
        assert httpx.get(engines, headers={"Authorization": "Bearer root"}).json()["engines"][0]["healthy"]
