"""LangChain's side of deferred calls (:mod:`parrot_integrations.tracing`): the types that carry
text between steps, and chat replies rebuilt with their usage."""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompt_values import PromptValue

from parrot_integrations.langchain.chat_models import usage_metadata
from parrot_integrations.tracing import Trace, register_value_type

for _type in (BaseMessage, Document, PromptValue):
    register_value_type(_type)


def resolve(trace: Trace, value: Any) -> Any:
    """``value`` with real outputs in place of placeholders. An ``AIMessage`` that is one chat
    call's reply comes back with that call's usage, model name and finish reason."""

    def reply(item: Any) -> AIMessage | None:
        if not isinstance(item, AIMessage) or not isinstance(item.content, str):
            return None
        output = trace.chat_output(item.content)
        if output is None:
            return None
        content, model_name = output
        record = trace.record_of(item.content)
        usage = usage_metadata(  # the call record, in the shape of OpenAI usage
            {
                "prompt_tokens": record.get("prompt_tokens", 0),
                "completion_tokens": record.get("completion_tokens", 0),
                "prompt_tokens_details": {"cached_tokens": record.get("cached_tokens", 0)},
            }
        )
        metadata = {**item.response_metadata, "model_name": model_name, "finish_reason": record.get("finish_reason")}
        return item.model_copy(update={"content": content, "usage_metadata": usage, "response_metadata": metadata})

    return trace.resolve(value, reply)
