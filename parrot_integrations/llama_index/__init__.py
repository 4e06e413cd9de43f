"""LlamaIndex integration: a drop-in LLM served by the Parrot backend, response synthesis (query
engines) run as Parrot programs, and workflow steps whose calls run as one program."""

from parrot_integrations.llama_index.llm import Parrot
from parrot_integrations.llama_index.synthesizer import ParrotSynthesizer, as_query_engine, get_response_synthesizer
from parrot_integrations.llama_index.workflow import deferred_calls

__all__ = ["Parrot", "ParrotSynthesizer", "as_query_engine", "deferred_calls", "get_response_synthesizer"]
