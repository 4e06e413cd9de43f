"""LangChain integration: drop-in model classes served by the Parrot backend."""

from parrot_integrations.langchain.chat_models import ChatParrot

__all__ = ["ChatParrot"]
