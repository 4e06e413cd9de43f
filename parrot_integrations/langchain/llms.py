"""``ParrotLLM``: a LangChain completion model served by the Parrot backend.

``invoke`` is one call; ``batch`` / ``abatch`` (and chains that batch, such as the map step of
``load_summarize_chain``) submit all their prompts as **one program** of independent calls, which
the backend runs together as a task group instead of receiving N separate requests.

    from parrot_integrations.langchain import ParrotLLM

    llm = ParrotLLM(base_url="http://127.0.0.1:8000", max_tokens=64, temperature=0)
    llm.batch(["Summarize: ...", "Summarize: ..."])   # one submission
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult

from parrot_backend.program.model import Call, Output, Program, Ref
from parrot_backend.program.sampling import SamplingParams
from parrot_integrations.client import (
    validated,
)
from parrot_integrations.langchain._base import ParrotSettings
from parrot_integrations.tracing import active_trace


class ParrotLLM(ParrotSettings, BaseLLM):
    """Completion model backed by a Parrot backend (``parrot serve``)."""

    @property
    def _llm_type(self) -> str:
        return "parrot"

    def _call_sampling(self, stop: list[str] | None, kwargs: dict[str, Any]) -> SamplingParams:
        """LangChain's parameters under SGLang's names (unknown names are refused by the backend)."""
        params = {**self._default_params, **kwargs}
        max_tokens = params.pop("max_tokens", None)
        if max_tokens is not None:
            params["max_new_tokens"] = max_tokens
        params.pop("model", None)
        stops = stop or self.stop
        if stops:
            params["stop"] = stops
        return validated(SamplingParams, params, "ParrotLLM")

    def _program(self, prompts: list[str], stop: list[str] | None, kwargs: dict[str, Any]) -> Program:
        """The prompts as one program: an input and an independent call per prompt."""
        sampling = self._call_sampling(stop, kwargs)
        calls = [
            Call(id=f"c{i}", template=[Ref(var=f"p{i}")], output=f"o{i}", sampling=sampling)
            for i in range(len(prompts))
        ]
        outputs = [Output(name=f"o{i}", objective="throughput") for i in range(len(prompts))]
        inputs = {f"p{i}": prompt for i, prompt in enumerate(prompts)}
        return Program(inputs=inputs, calls=calls, outputs=outputs, model=self.model_name)

    def _result(self, texts: list[str], status: dict[str, Any]) -> LLMResult:
        records = {record["output"]: record for record in status["calls"]}
        generations = []
        prompt_tokens = completion_tokens = 0
        for i, text in enumerate(texts):
            record = records[f"o{i}"]
            prompt_tokens += record["prompt_tokens"]
            completion_tokens += record["completion_tokens"]
            info = {"cached_tokens": record["cached_tokens"], "engine": record["engine"]}
            generations.append([Generation(text=text, generation_info=info)])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return LLMResult(generations=generations, llm_output={"token_usage": usage, "model_name": self.model_name})

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        trace = active_trace()
        if trace is not None:
            return _deferred_result(trace.record_completion(self, prompts, stop, kwargs))
        program = self._program(prompts, stop, kwargs)
        with self._client() as client:
            run = client.submit(program)
            values = run.get_many([f"o{i}" for i in range(len(prompts))])
            texts = [values[f"o{i}"] for i in range(len(prompts))]
            return self._result(texts, run.status())

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        trace = active_trace()
        if trace is not None:
            return _deferred_result(trace.record_completion(self, prompts, stop, kwargs))
        program = self._program(prompts, stop, kwargs)
        async with self._aclient() as client:
            program_id = await client.submit(program)
            values = await client.get_many(program_id, [f"o{i}" for i in range(len(prompts))])
            texts = [values[f"o{i}"] for i in range(len(prompts))]
            return self._result(texts, await client.status(program_id))

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        trace = active_trace()
        if trace is not None:
            yield GenerationChunk(text=trace.record_completion(self, [prompt], stop, kwargs)[0])
            return
        payload = self._completion_payload(prompt, stop, kwargs)
        with self._client() as client:
            for event in client.post_stream("/v1/completions", payload):
                chunk = _chunk(event)
                if chunk is not None:
                    if run_manager:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        trace = active_trace()
        if trace is not None:
            yield GenerationChunk(text=trace.record_completion(self, [prompt], stop, kwargs)[0])
            return
        payload = self._completion_payload(prompt, stop, kwargs)
        async with self._aclient() as client:
            async for event in client.post_stream("/v1/completions", payload):
                chunk = _chunk(event)
                if chunk is not None:
                    if run_manager:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    def _completion_payload(self, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        payload = {"model": self.model_name, "prompt": prompt, **self._default_params, **kwargs, "stream": True}
        if stop or self.stop:
            payload["stop"] = stop or self.stop
        return payload


def _deferred_result(placeholders: list[str]) -> LLMResult:
    """The result of calls recorded by a trace: their placeholders (see :mod:`parrot_integrations.tracing`)."""
    return LLMResult(generations=[[Generation(text=placeholder)] for placeholder in placeholders])


def _chunk(event: dict[str, Any]) -> GenerationChunk | None:
    for choice in event.get("choices") or ():
        text, finish = choice.get("text") or "", choice.get("finish_reason")
        if text or finish:
            return GenerationChunk(text=text, generation_info={"finish_reason": finish} if finish else None)
    return None
