"""Size profiles: ``cpu`` (SmolLM2 on two cores, the whole suite in about 20 minutes) and ``gpu``
(a random-weight Llama on CUDA)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.suite.workloads import Sizes


@dataclass(frozen=True)
class Profile:
    """Engines and workload sizes of one profile."""

    name: str
    engines: int
    engine_args: list[str]
    sizes: Sizes
    engine_env: dict[str, str] = field(default_factory=dict)
    random_model: dict[str, int] | None = None  # build a random Llama of this shape first

    def resolved_engine_args(self, model_dir: Path | None) -> list[str]:
        return [*(["--model", str(model_dir)] if model_dir else []), *self.engine_args]


CPU = Profile(
    name="cpu",
    engines=2,
    engine_args=[],  # SmolLM2-135M-Instruct, float32
    # Two engines share two cores: one thread each keeps them from fighting over both.
    engine_env={"OMP_NUM_THREADS": "1"},
    sizes=Sizes(
        chunk_chars=600,
        chain_chunks=4,
        map_chunks=6,
        summary_tokens=24,
        jobs=1,
        context_chars=3000,
        users=8,
        user_rate=1.0,
        answer_tokens=16,
        brief_chars=1500,
        modules=3,
        agent_tokens=24,
        chat_users=6,
        chat_rate=0.5,
        mixed_jobs=1,
    ),  # fmt: skip
)

# TinyLlama's shape (1.1 B parameters) with random weights: text is junk, lengths are fixed.
_LLAMA_1B = {
    "hidden_size": 2048, "intermediate_size": 5632, "num_layers": 22, "num_heads": 32, "num_kv_heads": 4,
    "max_positions": 16384,
}  # fmt: skip

GPU = Profile(
    name="gpu",
    engines=2,  # both on one GPU (or one per GPU with CUDA_VISIBLE_DEVICES per engine)
    # bfloat16 (the engine's default on CUDA). Which calls share a batch changes greedy tokens in
    # bfloat16, so texts differ between modes and between runs of one mode; float32 would keep them
    # closer but ran map_reduce about 3x slower here, even with half the chunk size.
    engine_args=["--device", "cuda", "--cuda-graph"]
    + ["--block-size", "64", "--num-blocks", "4096", "--max-batch-tokens", "8192"],
    random_model=_LLAMA_1B,
    sizes=Sizes(
        chunk_chars=2000,
        chain_chunks=8,
        map_chunks=16,
        summary_tokens=64,
        jobs=4,
        context_chars=12000,
        users=64,
        user_rate=8.0,
        answer_tokens=32,
        brief_chars=6000,
        modules=4,
        agent_tokens=64,
        chat_users=32,
        chat_rate=4.0,
        mixed_jobs=4,
    ),  # fmt: skip
)

PROFILES = {profile.name: profile for profile in (CPU, GPU)}
