"""The app while its model loads, and when loading fails: 503s that say why, never a crash."""

import threading

import pytest
from starlette.testclient import TestClient

from parrot_backend.engines.embedded.server import create_app
from tests.conftest import BLOCK_SIZE


def test_health_is_503_until_the_model_is_loaded(tiny_model_dir) -> None:
    from parrot_backend.engines.embedded import EmbeddedEngine, EngineConfig, load_model

    release = threading.Event()

    def slow_load() -> EmbeddedEngine:
        release.wait(timeout=60)
        engine = EmbeddedEngine(load_model(str(tiny_model_dir), show_progress=False), EngineConfig(BLOCK_SIZE, 64))
        engine.start()
        return engine

    with TestClient(create_app(slow_load)) as client:
        assert client.get("/health").status_code == 503
        waiting = client.post("/generate", json={"text": "hi"})
        assert waiting.status_code == 503 and "loading" in waiting.json()["error"]["message"]
        release.set()
        for _ in range(200):
            if client.get("/health").status_code == 200:
                break
            threading.Event().wait(0.05)
        assert client.get("/health").status_code == 200
        reply = client.post("/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 2}})
        assert reply.status_code == 200 and reply.json()["meta_info"]["completion_tokens"] == 2


def test_a_failed_load_is_reported_on_every_route() -> None:
    def broken_load():
        raise RuntimeError("out of memory while loading")

    with TestClient(create_app(broken_load)) as client:
        for _ in range(100):
            reply = client.get("/model_info")
            if "failed to load" in reply.text:
                break
            threading.Event().wait(0.02)
        assert reply.status_code == 503 and "out of memory" in reply.json()["error"]["message"]
        assert client.get("/health").status_code == 503


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = {t.name for t in threading.enumerate()}
    yield
    leaked = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert not {name for name in leaked if name.startswith("parrot-outputs")}
