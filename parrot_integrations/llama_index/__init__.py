"""LlamaIndex integration: a drop-in LLM served by the Parrot backend, and response synthesis
(query engines) run as Parrot programs."""

from parrot_integrations.llama_index.llm import Parrot
from parrot_integrations.llama_index.synthesizer import ParrotSynthesizer, as_query_engine, get_response_synthesizer

__all__ = ["Parrot", "ParrotSynthesizer", "as_query_engine", "get_response_synthesizer"]
