"""LangChain integration: drop-in model classes served by the Parrot backend, and a compiler that
runs whole chains as Parrot programs."""

from parrot_integrations.langchain.chat_models import ChatParrot
from parrot_integrations.langchain.compiler import CompiledChain, capture, compile, text_only
from parrot_integrations.langchain.llms import ParrotLLM
from parrot_integrations.tracing import CompileError

__all__ = ["ChatParrot", "CompileError", "CompiledChain", "ParrotLLM", "capture", "compile", "text_only"]
