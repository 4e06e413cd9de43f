"""The same engine with ``--device cuda`` (runs where a GPU is; skipped elsewhere, CI included)."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

torch = pytest.importorskip("torch")

from parrot_backend.engines.processes import EngineProcess  # noqa: E402
from tests.conftest import engine_args  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

GREEDY = {"temperature": 0.0, "ignore_eos": True}


@pytest.fixture(scope="module", params=["eager", "cuda-graph"])
def cuda_engine(request, tiny_model_dir):
    extra = ["--device", "cuda", "--cuda-graph" if request.param == "cuda-graph" else "--no-cuda-graph"]
    with EngineProcess(engine_args(tiny_model_dir, *extra)) as server:
        yield server


async def test_greedy_on_cuda_matches_generate(cuda_engine, reference_model) -> None:
    rng = random.Random(3)
    prompts = [[rng.randrange(4, 300) for _ in range(5 + 9 * i)] for i in range(6)]
    params = {"max_new_tokens": 12, **GREEDY}
    async with httpx.AsyncClient(base_url=cuda_engine.url, timeout=120) as client:
        info = (await client.get("/server_info")).json()
        assert info["device"].startswith("cuda")
        replies = await asyncio.gather(
            *(client.post("/generate", json={"input_ids": p, "sampling_params": params}) for p in prompts)
        )
    for prompt, reply in zip(prompts, replies, strict=True):
        expected = reference_model.generate(
            torch.tensor([prompt]), max_new_tokens=12, min_new_tokens=12, do_sample=False, eos_token_id=None
        )[0, len(prompt) :].tolist()
        assert reply.json()["output_ids"] == expected


def test_prefix_cache_and_chat_on_cuda(cuda_engine) -> None:
    with httpx.Client(base_url=cuda_engine.url, timeout=120) as client:
        prompt = list(range(10, 90))
        body = {"input_ids": prompt, "sampling_params": {"max_new_tokens": 4, **GREEDY}}
        first, second = (client.post("/generate", json=body).json() for _ in range(2))
        assert first["output_ids"] == second["output_ids"]
        assert second["meta_info"]["cached_tokens"] >= 64
        messages = [{"role": "user", "content": "hi"}]
        body = {"messages": messages, "max_tokens": 5, "ignore_eos": True}
        chat = client.post("/v1/chat/completions", json=body).json()
        assert chat["usage"]["completion_tokens"] == 5
