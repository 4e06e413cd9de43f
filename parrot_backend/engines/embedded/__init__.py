"""The embedded engine: a local runtime that speaks SGLang's native API.

Built on transformers' continuous batching; needs the ``embedded`` extra (torch, transformers).
"""

from parrot_backend.engines.embedded.engine import EmbeddedEngine, EngineConfig, GenerationEvent
from parrot_backend.engines.embedded.models import LoadedModel, load_model

__all__ = ["EmbeddedEngine", "EngineConfig", "GenerationEvent", "LoadedModel", "load_model"]
