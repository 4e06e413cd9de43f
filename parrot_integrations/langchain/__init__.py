"""LangChain integration: drop-in model classes served by the Parrot backend."""

from parrot_integrations.langchain.chat_models import ChatParrot
from parrot_integrations.langchain.llms import ParrotLLM

__all__ = ["ChatParrot", "ParrotLLM"]
