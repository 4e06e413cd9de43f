"""Finding and loading models: paths, errors, sliding-window detection."""

import pytest

pytest.importorskip("transformers")

from transformers import Gemma3TextConfig, LlamaConfig, MistralConfig  # noqa: E402

from parrot_backend.engines.embedded.models import (  # noqa: E402
    cache_dir,
    default_gguf_path,
    has_sliding_window,
    resolve_dtype,
    resolve_model_dir,
)
from parrot_backend.errors import ModelLoadError  # noqa: E402


def test_sliding_window_models_are_detected() -> None:
    assert not has_sliding_window(LlamaConfig())
    assert has_sliding_window(Gemma3TextConfig())  # interleaved sliding-window layers
    assert has_sliding_window(MistralConfig(sliding_window=4096))
    assert not has_sliding_window(MistralConfig(sliding_window=None))


def test_a_model_folder_resolves_to_itself(tiny_model_dir) -> None:
    path, name = resolve_model_dir(str(tiny_model_dir))
    assert path == tiny_model_dir.resolve() and name == tiny_model_dir.name


def test_paths_that_are_not_models_are_refused(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="never downloaded"):
        resolve_model_dir("HuggingFaceTB/SmolLM2-135M-Instruct")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelLoadError):
        resolve_model_dir(str(tmp_path / "notes.txt"))
    with pytest.raises(ModelLoadError):
        resolve_model_dir(str(tmp_path))  # a folder without config.json


def test_the_default_model_ships_in_a_package() -> None:
    path = default_gguf_path()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


def test_dtypes_and_cache_dir(monkeypatch, tmp_path) -> None:
    import torch

    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("auto", "cuda") is torch.bfloat16
    assert resolve_dtype("float16", "cpu") is torch.float16
    for bad in ("int8", "banana"):
        with pytest.raises(ModelLoadError, match="--dtype"):
            resolve_dtype(bad, "cpu")
    monkeypatch.setenv("PARROT_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
