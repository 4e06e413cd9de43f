"""Response synthesis as one Parrot program: LlamaIndex's own synthesizers, their calls deferred.

    from parrot_integrations.llama_index import Parrot, get_response_synthesizer

    synth = get_response_synthesizer(llm=Parrot(max_tokens=128), response_mode="tree_summarize")
    synth.synthesize("What did the speech promise?", nodes)    # one submission per tree level

The synthesizer is LlamaIndex's (``tree_summarize``, ``refine``, ``compact``, ``accumulate``,
``compact_accumulate``, ``simple_summarize``), run with Parrot's calls recorded rather than sent:
an answer that feeds the next prompt (refine's ``existing_answer``) becomes a variable the backend
chains, and the whole synthesis goes out as one program. Where LlamaIndex sizes text that holds
answers not generated yet:

- repacking answers themselves (the levels of ``tree_summarize``) waits for them: each level is
  one program, planned by LlamaIndex's own repacking of the real summaries;
- repacking a chunk against a prompt that holds an answer (refine) assumes the answer is as long
  as it may be (``max_tokens``); once the answers exist, every such decision is checked against
  them, and, like an answer that came back empty, a wrong one makes the synthesis run again
  waiting for each answer. The result is always LlamaIndex's.

Streaming synthesizers and structured outputs (``output_cls``) run as LlamaIndex runs them, one
call at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core import get_response_synthesizer as llama_get_response_synthesizer
from llama_index.core.indices.prompt_helper import DEFAULT_PADDING
from llama_index.core.prompts import BasePromptTemplate, SelectorPromptTemplate
from llama_index.core.prompts.mixin import PromptDictType, PromptMixinType
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers import BaseSynthesizer
from llama_index.core.types import RESPONSE_TEXT_TYPE

from parrot_integrations.llama_index.llm import Parrot
from parrot_integrations.tracing import Trace, active_trace, holds_placeholder


def get_response_synthesizer(llm: Parrot, response_mode: str = "compact", **kwargs: Any) -> ParrotSynthesizer:
    """LlamaIndex's ``get_response_synthesizer`` whose synthesis runs as Parrot programs; the same
    arguments (``text_qa_template``, ``refine_template``, ``summary_template``, ``use_async``, ...)."""
    inner = llama_get_response_synthesizer(llm=llm, response_mode=response_mode, **kwargs)
    return ParrotSynthesizer(inner)


def as_query_engine(
    index: Any, llm: Parrot, *, response_mode: str = "tree_summarize", similarity_top_k: int = 4, **kwargs: Any
) -> RetrieverQueryEngine:
    """A query engine over ``index`` (its retriever) that synthesizes answers through Parrot."""
    synthesizer = get_response_synthesizer(llm=llm, response_mode=response_mode, **kwargs)
    return RetrieverQueryEngine(
        retriever=index.as_retriever(similarity_top_k=similarity_top_k), response_synthesizer=synthesizer
    )


class ParrotSynthesizer(BaseSynthesizer):
    """A LlamaIndex synthesizer whose calls run as Parrot programs (see the module's notes)."""

    def __init__(self, inner: BaseSynthesizer) -> None:
        super().__init__(
            llm=inner._llm,
            callback_manager=inner.callback_manager,
            prompt_helper=inner._prompt_helper,
            streaming=inner._streaming,
            output_cls=inner._output_cls,
        )
        self._inner = inner
        inner._prompt_helper = _DeferringPromptHelper(inner._prompt_helper)  # type: ignore[assignment]
        self.last_programs = 0

    @property
    def inner(self) -> BaseSynthesizer:
        """The LlamaIndex synthesizer doing the work."""
        return self._inner

    def _get_prompts(self) -> PromptDictType:
        return self._inner.get_prompts()

    def _update_prompts(self, prompts: PromptDictType) -> None:
        self._inner.update_prompts(prompts)

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    def _deferrable(self) -> bool:
        return not self._streaming and self._output_cls is None

    def get_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> RESPONSE_TEXT_TYPE:
        if not self._deferrable():
            return self._inner.get_response(query_str, text_chunks, **response_kwargs)
        for exact in (False, True):
            with Trace(exact=exact) as trace:
                _expect_answers(trace)
                result = trace.resolve(self._inner.get_response(query_str, text_chunks, **response_kwargs))
                if self._finish(trace):
                    return result
        raise AssertionError("an exact run needs no check")

    async def aget_response(
        self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any
    ) -> RESPONSE_TEXT_TYPE:
        if not self._deferrable():
            return await self._inner.aget_response(query_str, text_chunks, **response_kwargs)
        for exact in (False, True):
            with Trace(exact=exact) as trace:
                _expect_answers(trace)
                raw = await self._inner.aget_response(query_str, text_chunks, **response_kwargs)
                result = await asyncio.to_thread(trace.resolve, raw)
                if await asyncio.to_thread(self._finish, trace):
                    return result
        raise AssertionError("an exact run needs no check")

    def _finish(self, trace: Trace) -> bool:
        self.last_programs = len(trace.submissions)
        return trace.exact or trace.estimates_held()


class _AnswersNotEmpty:
    """LlamaIndex keeps the previous answer when a new one is empty (``if response:``); a
    placeholder is never empty, so a synthesis with an empty answer is run again for real."""

    def __init__(self, trace: Trace) -> None:
        self._trace = trace

    def held(self) -> bool:
        return all(self._trace.outputs())


def _expect_answers(trace: Trace) -> None:
    trace.estimates.append(_AnswersNotEmpty(trace))


class _RepackEstimate:
    """A chunk repacked against a prompt holding answers, assumed as long as they may be."""

    def __init__(self, trace: Trace, helper: Any, prompt: BasePromptTemplate, args: tuple, estimate: list[str]) -> None:
        self._trace, self._helper, self._prompt, self._args, self._estimate = trace, helper, prompt, args, estimate

    def held(self) -> bool:
        real = _with_kwargs(self._prompt, lambda text: self._trace.resolve(text))
        return self._helper.repack(real, *self._args) == self._estimate


class _DeferringPromptHelper:
    """LlamaIndex's prompt helper, for text that may hold answers not generated yet."""

    def __init__(self, helper: Any) -> None:
        self._helper = helper

    def __getattr__(self, name: str) -> Any:
        return getattr(self._helper, name)

    def repack(
        self,
        prompt: BasePromptTemplate,
        text_chunks: Sequence[str],
        padding: int = DEFAULT_PADDING,
        llm: Any = None,
        tools: Any = None,
    ) -> list[str]:
        trace = active_trace()
        args = (padding, llm, tools)
        if trace is None:
            return self._helper.repack(prompt, text_chunks, *args)
        chunks = trace.resolve(list(text_chunks))  # LlamaIndex strips and splits these: real text
        if not holds_placeholder(_prompt_kwargs(prompt)):
            return self._helper.repack(prompt, chunks, *args)
        if trace.exact:
            return self._helper.repack(_with_kwargs(prompt, trace.resolve), chunks, *args)
        longest = _with_kwargs(prompt, lambda text: trace.fill(text, lambda tokens: " x" * tokens))
        estimate = self._helper.repack(longest, chunks, *args)
        trace.estimates.append(_RepackEstimate(trace, self._helper, prompt, (chunks, *args), estimate))
        return estimate

    def truncate(self, prompt: BasePromptTemplate, text_chunks: Sequence[str], *args: Any, **kwargs: Any) -> list[str]:
        trace = active_trace()
        if trace is not None:
            prompt, text_chunks = _with_kwargs(prompt, trace.resolve), trace.resolve(list(text_chunks))
        return self._helper.truncate(prompt, text_chunks, *args, **kwargs)


def _prompt_kwargs(prompt: BasePromptTemplate) -> dict[str, Any]:
    """The partial variables of a prompt (of its default template, for a selector)."""
    if isinstance(prompt, SelectorPromptTemplate):
        return dict(prompt.default_template.kwargs)
    return dict(prompt.kwargs)


def _with_kwargs(prompt: BasePromptTemplate, convert: Callable[[str], str]) -> BasePromptTemplate:
    """``prompt`` with ``convert`` applied to its partial variables that hold placeholders."""
    changed = {key: convert(value) for key, value in _prompt_kwargs(prompt).items() if holds_placeholder(value)}
    return prompt.partial_format(**changed) if changed else prompt
