"""Shared fixtures: the tiny test model, an in-process engine and an engine server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Small blocks make prefix-cache effects visible with short prompts.
BLOCK_SIZE = 16
NUM_BLOCKS = 128  # 2,048 tokens of KV cache


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from parrot_backend.engines.embedded.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path) -> Iterator[object]:
    """A started in-process engine on the tiny model (float32, CPU)."""
    from parrot_backend.engines.embedded import EmbeddedEngine, EngineConfig, load_model

    loaded = load_model(str(tiny_model_dir), dtype="float32", show_progress=False)
    config = EngineConfig(block_size=BLOCK_SIZE, num_blocks=NUM_BLOCKS, max_batch_tokens=256)
    started = EmbeddedEngine(loaded, config)
    started.start()
    yield started
    started.shutdown()


@pytest.fixture(scope="session")
def reference_model(tiny_model_dir: Path) -> object:
    """The same weights loaded plainly, for ``model.generate`` references."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def engine_args(model_dir: Path, *extra: str) -> list[str]:
    return [
        "--model", str(model_dir), "--dtype", "float32",
        "--block-size", str(BLOCK_SIZE), "--num-blocks", str(NUM_BLOCKS), "--max-batch-tokens", "256",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def engine_server(tiny_model_dir: Path) -> Iterator[object]:
    """``parrot engine`` on the tiny model, as a child process on a free port."""
    from parrot_backend.engines.processes import EngineProcess

    with EngineProcess(engine_args(tiny_model_dir)) as server:
        yield server


@pytest.fixture(scope="session")
def backend(engine_server) -> Iterator[object]:
    """``parrot serve`` in front of the tiny-model engine server, with small limits."""
    from parrot_backend.engines.processes import BackendProcess

    limits = ["--max-calls", "40", "--max-template-chars", "20000", "--max-fan-out", "16", "--max-new-tokens", "512"]
    with BackendProcess([engine_server.url], limits) as server:
        yield server
