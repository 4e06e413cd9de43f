"""Embedded-engine benchmark: prefill and decode speed, prefix-cache effects.

Runs the engine in-process (no HTTP), so the figures are the engine's own:

- prefill tokens/s at batch 1 and 8 (time to the first token of distinct prompts);
- decode tokens/s and ms per step at batch 1 and 8 (CPU) or 1 and 32 (GPU);
- time to first token of a long prompt, cold and cached;
- shared-prefix fan-out (GPU profile): N requests sharing a long prefix, with block sharing off,
  on, and on with a prefill-only warm-up first.

    python benchmarks/engine/bench_engine.py --profile cpu            # SmolLM2 on the CPU
    python benchmarks/engine/bench_engine.py --profile gpu            # random ~1.1B Llama on CUDA

Results are printed as a table and written as JSON under ``--out``.
"""

from __future__ import annotations

import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from parrot_backend.engines.embedded import EmbeddedEngine, EngineConfig, LoadedModel, load_model
from parrot_backend.program.sampling import SamplingParams

console = Console()
app = typer.Typer(add_completion=False)


@dataclass
class Trace:
    """Timings of one request, in seconds from its submission."""

    first_token: float
    end: float
    new_tokens: int
    cached_tokens: int


@dataclass
class Result:
    name: str
    value: float
    unit: str
    detail: dict[str, Any] = field(default_factory=dict)


async def timed(engine: EmbeddedEngine, ids: list[int], params: SamplingParams) -> Trace:
    start = time.perf_counter()
    first = None
    last = None
    async for event in engine.generate(ids, params):
        if first is None and (event.snapshot.output_ids or event.finished):
            first = time.perf_counter() - start
        last = event
    assert last is not None and first is not None
    return Trace(first, time.perf_counter() - start, len(last.snapshot.output_ids), last.cached_tokens)


def distinct_prompts(count: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    """Prompts that share no block: each starts with its own token."""
    rng = random.Random(seed)
    low = 10
    return [[low + i] + [rng.randrange(low, vocab - 1) for _ in range(length - 1)] for i in range(count)]


async def prefill(engine: EmbeddedEngine, batch: int, length: int) -> Result:
    await engine.flush_cache()
    prompts = distinct_prompts(batch, length, engine.vocab_size, seed=batch)
    params = SamplingParams(max_new_tokens=1, temperature=0, ignore_eos=True)
    traces = await asyncio.gather(*(timed(engine, p, params) for p in prompts))
    wall = max(t.first_token for t in traces)
    return Result(
        f"prefill batch {batch}", batch * length / wall, "tokens/s", {"prompt_tokens": length, "wall_s": wall}
    )


async def decode(engine: EmbeddedEngine, batch: int, new_tokens: int, prompt: int = 32) -> list[Result]:
    await engine.flush_cache()
    prompts = distinct_prompts(batch, prompt, engine.vocab_size, seed=100 + batch)
    params = SamplingParams(max_new_tokens=new_tokens, temperature=0, ignore_eos=True)
    traces = await asyncio.gather(*(timed(engine, p, params) for p in prompts))
    step = statistics.median((t.end - t.first_token) / (t.new_tokens - 1) for t in traces)
    detail = {"new_tokens": new_tokens, "prompt_tokens": prompt}
    return [
        Result(f"decode batch {batch}", batch / step, "tokens/s", detail),
        Result(f"decode step batch {batch}", step * 1000, "ms", detail),
    ]


async def time_to_first_token(engine: EmbeddedEngine, length: int, repeats: int = 3) -> list[Result]:
    params = SamplingParams(max_new_tokens=1, temperature=0, ignore_eos=True)
    cold, cached, hits = [], [], []
    for i in range(repeats):
        prompt = distinct_prompts(1, length, engine.vocab_size, seed=500 + i)[0]
        await engine.flush_cache()
        cold.append((await timed(engine, prompt, params)).first_token)
        again = await timed(engine, prompt, params)
        cached.append(again.first_token)
        hits.append(again.cached_tokens)
    cold_s, cached_s = statistics.median(cold), statistics.median(cached)
    detail = {"prompt_tokens": length, "cached_tokens": hits, "repeats": repeats}
    return [
        Result(f"TTFT {length}-token prompt, cold", cold_s * 1000, "ms", detail),
        Result(f"TTFT {length}-token prompt, cached", cached_s * 1000, "ms", detail),
        Result("TTFT speedup from the cache", cold_s / cached_s, "x", detail),
    ]


async def fan_out(engine: EmbeddedEngine, requests: int, shared: int, own: int, new: int, warm: bool) -> float:
    """Wall time of ``requests`` prompts sharing a ``shared``-token prefix, all sent at once."""
    await engine.flush_cache()
    rng = random.Random(7)
    prefix = [rng.randrange(10, engine.vocab_size - 1) for _ in range(shared)]
    prompts = [prefix + [rng.randrange(10, engine.vocab_size - 1) for _ in range(own)] for _ in range(requests)]
    params = SamplingParams(max_new_tokens=new, temperature=0, ignore_eos=True)
    start = time.perf_counter()
    if warm:
        await timed(engine, prefix, SamplingParams(max_new_tokens=0))
    await asyncio.gather(*(timed(engine, p, params) for p in prompts))
    return time.perf_counter() - start


def random_llama(device: str, dtype: str, layers: int = 22) -> LoadedModel:
    """A random-weight Llama of ~1.1B parameters (TinyLlama's shape), built in memory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from parrot_backend.engines.embedded.tiny import build_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="bench-llama-"))
    tokenizer = build_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers,
        num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=8192,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(getattr(torch, dtype)).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e9
    console.print(f"random Llama: {params:.2f} B parameters, {dtype}")
    return LoadedModel(model, tokenizer, folder, f"random-llama-{params:.1f}b", prefix_sharing=True)


async def run_profile(engine: EmbeddedEngine, gpu: bool, ttft_tokens: int) -> list[Result]:
    results: list[Result] = []
    await prefill(engine, 1, 64)  # warm-up: first-call costs stay out of the numbers
    await decode(engine, 1, 8)
    results.append(await prefill(engine, 1, 1000 if not gpu else 2048))
    results.append(await prefill(engine, 8, 1000 if not gpu else 2048))
    for batch in (1, 32) if gpu else (1, 8):
        results += await decode(engine, batch, 128 if gpu else 64)
    results += await time_to_first_token(engine, ttft_tokens)
    return results


def table(title: str, results: list[Result]) -> Table:
    out = Table(title=title)
    out.add_column("measure")
    out.add_column("value", justify="right")
    out.add_column("unit")
    for r in results:
        out.add_row(r.name, f"{r.value:,.1f}" if r.value >= 10 else f"{r.value:.2f}", r.unit)
    return out


@app.command()
def main(
    profile: Annotated[str, typer.Option(help="cpu: SmolLM2 on CPU; gpu: random ~1.1B Llama on CUDA.")] = "cpu",
    model: Annotated[str | None, typer.Option(help="CPU profile: a model folder or GGUF (default SmolLM2).")] = None,
    dtype: Annotated[str, typer.Option(help="Model dtype.")] = "auto",
    block_size: Annotated[int, typer.Option(help="KV block size (tokens).")] = 0,
    variants: Annotated[str, typer.Option(help="GPU: comma list of eager,graph,compile to compare.")] = "eager,graph",
    fan_out_requests: Annotated[int, typer.Option(help="GPU: requests in the shared-prefix test.")] = 64,
    device: Annotated[str, typer.Option(help="GPU profile: device (cpu only to check the script).")] = "cuda",
    layers: Annotated[int, typer.Option(help="GPU profile: layers of the random Llama.")] = 22,
    num_blocks: Annotated[int, typer.Option(help="KV-cache blocks.")] = 1024,
    ttft_tokens: Annotated[int, typer.Option(help="Prompt length of the cold/cached TTFT test.")] = 1000,
    out: Annotated[Path, typer.Option(help="Folder for the JSON results.")] = Path("benchmarks/engine/out"),
) -> None:
    gpu = profile == "gpu"
    block = block_size or (256 if gpu else 32)
    if gpu:
        loaded = random_llama(device, "bfloat16" if dtype == "auto" else dtype, layers)
    else:
        loaded = load_model(model, dtype=dtype)
    runs: dict[str, list[Result]] = {}
    names = variants.split(",") if gpu else ["cpu"]
    for variant in names:
        config = EngineConfig(
            block_size=block,
            num_blocks=num_blocks,
            max_batch_tokens=8192 if gpu else 1024,
            use_cuda_graph=variant in ("graph", "compile") if gpu else None,
            compile_level=1 if variant == "compile" else 0,
        )
        engine = EmbeddedEngine(loaded, config)
        started = time.perf_counter()
        engine.start()
        start_time = time.perf_counter() - started
        results = [
            Result("engine start", start_time, "s"),
            *asyncio.run(run_profile(engine, gpu, ttft_tokens)),
        ]
        engine.shutdown()
        runs[variant] = results
        console.print(table(f"{loaded.served_name} · {variant} · block {block} · {loaded.model.dtype}", results))
    if gpu:
        runs["fan-out"] = asyncio.run(sharing(loaded, config, fan_out_requests))
        console.print(table(f"shared-prefix fan-out · {names[-1]} · block {block}", runs["fan-out"]))
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "command": " ".join(sys.argv),
        "machine": platform.platform(),
        "processor": platform.processor(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": loaded.served_name,
        "device": str(loaded.model.device),
        "runs": {k: [asdict(r) for r in v] for k, v in runs.items()},
    }
    path = out / f"engine-{profile}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=2))
    console.print(f"wrote {path}")


async def sharing(loaded: LoadedModel, config: EngineConfig, requests: int) -> list[Result]:
    """Shared-prefix fan-out, on one engine with block sharing and one without."""
    shape = {"requests": requests, "shared": 2048, "own": 64, "new": 32}
    timings: dict[str, float] = {}
    for shared in (True, False):
        engine = EmbeddedEngine(loaded, EngineConfig(**{**asdict(config), "prefix_sharing": shared}))
        engine.start()
        await fan_out(engine, 4, 256, 16, 4, warm=False)  # warm-up
        timings["on" if shared else "off"] = await fan_out(engine, requests, 2048, 64, 32, warm=False)
        if shared:
            timings["warm"] = await fan_out(engine, requests, 2048, 64, 32, warm=True)
        engine.shutdown()
    return [
        Result("fan-out, block sharing off", timings["off"], "s", shape),
        Result("fan-out, block sharing on", timings["on"], "s", shape),
        Result("fan-out, sharing on + warm-up", timings["warm"], "s", shape),
        Result("speedup from block sharing", timings["off"] / timings["on"], "x", shape),
        Result("speedup from sharing + warm-up", timings["off"] / timings["warm"], "x", shape),
    ]


if __name__ == "__main__":
    app()
