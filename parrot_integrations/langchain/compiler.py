"""Run a LangChain chain as one Parrot program: :func:`compile` and :func:`capture`.

    from parrot_integrations.langchain import ChatParrot, compile

    chain = {"facts": facts_prompt | chat | StrOutputParser()} | title_prompt | chat | StrOutputParser()
    fast = compile(chain)          # same input and output as chain
    fast.invoke({"doc": text})     # both calls in one submission, chained on the backend
    print(fast.explain())          # the program, and which nodes ran in the client and why

The compiled runnable walks the chain for each input. Calls of ``ChatParrot`` / ``ParrotLLM``
are recorded instead of sent (see :mod:`parrot_integrations.tracing`), so a prompt filled from an earlier call's
output reads that call's variable, and the whole run is submitted at the end as one program.
Nodes Parrot understands: prompt templates, Parrot models (bound arguments included),
``StrOutputParser``, sequences, parallel maps and dict literals, ``RunnablePassthrough`` /
``.assign`` / ``.pick``, ``itemgetter`` lambdas, ``.map()``, ``.with_config``, and
langchain-classic's document chains (``load_summarize_chain``: stuff, map_reduce, refine).

Any other node (a lambda, a branch, fallbacks, a JSON parser, another provider's model) runs in
the client on real values: what was recorded before it is submitted, its input is read back, and
the walk goes on after it. The answer is the same, at the cost of a round trip; the reason is
logged once per node and shown by :meth:`CompiledChain.explain`.

:func:`capture` is for code Parrot cannot walk (a LangGraph graph, your own functions) that only
moves model outputs around as text: it runs the code as it is, with every Parrot call recorded.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import string
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.language_models import BaseLanguageModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate, PromptTemplate
from langchain_core.prompts.chat import BaseStringMessagePromptTemplate, MessagesPlaceholder
from langchain_core.runnables import (
    Runnable,
    RunnableBinding,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableSequence,
    RunnableSerializable,
)
from langchain_core.runnables.base import RunnableEachBase, coerce_to_runnable
from langchain_core.runnables.config import get_config_list, patch_config
from langchain_core.runnables.passthrough import RunnableAssign, RunnablePick
from pydantic import BaseModel, ConfigDict, PrivateAttr

from parrot_backend.program.model import Objective
from parrot_integrations.langchain._base import ParrotSettings
from parrot_integrations.langchain.tracing import resolve
from parrot_integrations.tracing import Trace, holds_placeholder, suspended

logger = logging.getLogger(__name__)
_TEXT_ONLY = "parrot:text-only"
T = TypeVar("T")

# langchain-classic's document chains: they only move model outputs around as text, so they run
# as written, with their Parrot calls recorded. Optional: imported only when installed.
_DOCUMENT_CHAINS = (
    "langchain_classic.chains.llm.LLMChain",
    "langchain_classic.chains.combine_documents.stuff.StuffDocumentsChain",
    "langchain_classic.chains.combine_documents.map_reduce.MapReduceDocumentsChain",
    "langchain_classic.chains.combine_documents.reduce.ReduceDocumentsChain",
    "langchain_classic.chains.combine_documents.refine.RefineDocumentsChain",
)


def text_only(function: Any) -> Runnable[Any, Any]:
    """Mark a function (or runnable) that only moves model outputs around as text: joining,
    concatenating, formatting them, copying them into dicts. Compiled chains run it without
    waiting for the outputs, so it does not split the program::

        join = text_only(lambda summaries: {"summaries": "\\n\\n".join(summaries)})
        chain = map_chain.map() | join | reduce_prompt | llm
    """
    return coerce_to_runnable(function).with_config(tags=[_TEXT_ONLY])


def compile(runnable: Any, *, objective: Objective = "latency") -> CompiledChain:  # noqa: A001 - the name users look for
    """A runnable with ``runnable``'s input and output that runs it as a Parrot program.

    ``objective`` tells the backend how the results are awaited: ``latency`` (someone waits for
    the answer: the default) or ``throughput`` (batch work, which yields to interactive calls).
    """
    return CompiledChain(runnable=coerce_to_runnable(runnable), objective=objective)


def capture(runnable: Any, *, objective: Objective = "latency") -> CompiledChain:
    """Run ``runnable`` as written, every ``ChatParrot`` / ``ParrotLLM`` call inside it recorded
    and submitted as one program when the run ends.

    For code the compiler cannot walk (a LangGraph graph with ``Send``, plain functions) that
    treats model outputs as opaque text: joining, formatting them into prompts, storing them in
    state. Code that *inspects* an output (its length, ``if "yes" in answer``, parsing it) sees a
    placeholder instead: use :func:`compile` for such code, which reads real values where needed.
    Token counts through a Parrot model (``get_num_tokens``) read the real values.
    """
    return CompiledChain(runnable=coerce_to_runnable(runnable), trust_code=True, objective=objective)


@dataclass
class _Report:
    """What one compiled run did: its programs, and the nodes that ran in the client."""

    submissions: int = 0
    programs: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)


class CompiledChain(RunnableSerializable[Any, Any]):
    """A chain run as Parrot programs; see :func:`compile`."""

    runnable: Runnable[Any, Any]
    trust_code: bool = False
    objective: Objective = "latency"

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _logged: set[int] = PrivateAttr(default_factory=set)
    _last: _Report | None = PrivateAttr(default=None)

    @property
    def InputType(self) -> Any:  # noqa: N802 - LangChain's name
        return self.runnable.InputType

    @property
    def OutputType(self) -> Any:  # noqa: N802 - LangChain's name
        return self.runnable.OutputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return self.runnable.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return self.runnable.get_output_schema(config)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke_one, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke_one, input, config)

    def _invoke_one(self, input: Any, run_manager: Any, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        return _drive(self._run([input], child, return_exceptions=False, use_async=False))[0]

    async def _ainvoke_one(self, input: Any, run_manager: Any, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        return (await self._run([input], child, return_exceptions=False, use_async=True))[0]

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Every input's calls in one program (per split), not one run per input."""
        return _drive(self._batch(inputs, config, return_exceptions, use_async=False))

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Every input's calls in one program (per split), not one run per input."""
        return await self._batch(inputs, config, return_exceptions, use_async=True)

    def _batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None,
        return_exceptions: bool,
        *,
        use_async: bool,
    ) -> Coroutine[Any, Any, list[Any]]:
        # One config for the whole run: the inputs share one trace, and so one set of callbacks.
        first = get_config_list(config, len(inputs))[0] if inputs else RunnableConfig()
        return self._run(inputs, first, return_exceptions=return_exceptions, use_async=use_async)

    async def _run(
        self, inputs: list[Any], config: RunnableConfig, *, return_exceptions: bool, use_async: bool
    ) -> list[Any]:
        results, held = await self._traced(inputs, config, return_exceptions, use_async, exact=False)
        if not held:
            # A token count answered from bounds was wrong: run again, waiting for real counts.
            logger.info("Parrot reruns the chain with exact token counts (an estimate did not hold)")
            results, _ = await self._traced(inputs, config, return_exceptions, use_async, exact=True)
        return results

    async def _traced(
        self,
        inputs: list[Any],
        config: RunnableConfig,
        return_exceptions: bool,
        use_async: bool,
        *,
        exact: bool,
    ) -> tuple[list[Any], bool]:
        report = _Report()
        with Trace(exact=exact, objective=self.objective) as trace:
            walker = _Walker(trace, config, report, self, use_async)
            results = [await walker.attempt(walker.walk, return_exceptions, self.runnable, value) for value in inputs]
            resolved = [
                result
                if isinstance(result, Exception)
                else await walker.attempt(walker.blocking, return_exceptions, resolve, trace, result)
                for result in results
            ]
            held = await walker.blocking(trace.estimates_held)
            report.submissions, report.programs = len(trace.submissions), trace.describe()
        self._last = report
        return resolved, held

    def _log_once(self, node: Runnable[Any, Any], reason: str) -> None:
        if id(node) not in self._logged:
            self._logged.add(id(node))
            logger.warning("Parrot runs %s in the client: %s", _name(node), reason)

    def explain(self) -> str:
        """The chain's nodes (compiled, or run in the client and why), then what the last run
        submitted: each program with its calls, and where it split."""
        lines = ["nodes:"]
        lines.extend(_explain(self.runnable, self.trust_code, 1))
        if self._last is None:
            lines.append("no run yet: invoke the compiled chain to see its programs")
        else:
            lines.append(f"last run: {self._last.submissions} program(s) submitted")
            lines.extend(f"  {line}" for line in self._last.programs)
            lines.extend(f"  split at {split}" for split in self._last.splits)
        return "\n".join(lines)


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a walk that never suspends (sync mode: every step is a plain call) without a loop,
    so that ``invoke`` works inside a running event loop too."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a synchronous compiled run tried to await; use ainvoke")


class _Walker:
    """One run's walk: structural nodes are followed, understood leaves run with placeholders,
    the others run on resolved values with Parrot models called directly.

    Written once for both paths: with ``use_async`` leaves are awaited (``ainvoke``) and blocking
    reads go to a thread; without it every step is a plain call and nothing suspends.
    """

    def __init__(
        self, trace: Trace, config: RunnableConfig, report: _Report, chain: CompiledChain, use_async: bool
    ) -> None:
        self.trace, self.config, self.report, self.chain = trace, config, report, chain
        self.use_async = use_async

    async def walk(self, node: Runnable[Any, Any], value: Any) -> Any:
        if isinstance(node, RunnableSequence):
            for step in node.steps:
                value = await self.walk(step, value)
            return value
        if isinstance(node, RunnableParallel):
            return {key: await self.walk(branch, value) for key, branch in node.steps__.items()}
        if isinstance(node, RunnableAssign):
            if not isinstance(value, dict):
                raise TypeError(f"RunnablePassthrough.assign() expects a dict input, got {type(value).__name__}")
            return {**value, **await self.walk(node.mapper, value)}
        if isinstance(node, RunnableEachBase):
            return [await self.walk(node.bound, item) for item in value]
        if _is_config_binding(node):
            return await self.walk(node.bound, value)
        reason = _client_reason(node, self.chain.trust_code)
        if reason is None and not self._needs_values(node, value):
            return await self.invoke(node, value)
        return await self._in_client(node, value, reason or _NOT_VERBATIM)

    def _needs_values(self, node: Runnable[Any, Any], value: Any) -> bool:
        """A prompt template whose fields would not copy a placeholder as it is."""
        return (
            isinstance(node, BasePromptTemplate)
            and not self.chain.trust_code
            and holds_placeholder(value)
            and not _fills_verbatim(node, value)
        )

    async def _in_client(self, node: Runnable[Any, Any], value: Any, reason: str) -> Any:
        if holds_placeholder(value):
            self.chain._log_once(node, reason)
            self.report.splits.append(f"{_name(node)}: {reason}")
        with suspended():
            resolved = await self.blocking(resolve, self.trace, value)
            return await self.invoke(node, resolved)

    async def invoke(self, node: Runnable[Any, Any], value: Any) -> Any:
        if self.use_async:
            return await node.ainvoke(value, self.config)
        return node.invoke(value, self.config)

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """A call that waits on the backend: in a thread on the async path (the context, and so
        the trace, goes with it)."""
        if self.use_async:
            return await asyncio.to_thread(function, *args)
        return function(*args)

    async def attempt(self, step: Callable[..., Awaitable[T]], return_exceptions: bool, *args: Any) -> T | Exception:
        """``step(*args)``, or the exception it raised when the caller collects them."""
        try:
            return await step(*args)
        except Exception as error:
            if not return_exceptions:
                raise
            return error


_NOT_VERBATIM = "a model output fills a field that is not a plain f-string {name}"


def _client_reason(node: Runnable[Any, Any], trust_code: bool) -> str | None:
    """Why ``node`` must run in the client on real values; None if it runs with placeholders."""
    if isinstance(node, ParrotSettings):
        return None
    if isinstance(node, RunnableBinding) and isinstance(node.bound, ParrotSettings):
        return None  # .bind(stop=...) on a Parrot model
    if trust_code or _is_text_only(node):
        return None
    if isinstance(node, BaseLanguageModel):
        return f"{type(node).__name__} is not a Parrot model; it is called with real prompts"
    if isinstance(node, BasePromptTemplate) or type(node) is StrOutputParser:
        return None
    if isinstance(node, RunnablePassthrough) and node.func is None and node.afunc is None:
        return None
    if isinstance(node, RunnablePick):
        return None
    if isinstance(node, RunnableLambda):
        if isinstance(node.func, operator.itemgetter):
            return None
        return "a Python function; Parrot cannot see what it does with model outputs"
    if _is_document_chain(node):
        if all(isinstance(model, ParrotSettings) for model in _models_inside(node)):
            return None
        return "a document chain with a model that is not a Parrot model"
    name = type(node).__name__
    if name == "RunnableBranch":
        return "a branch picks its path from the values"
    if name == "RunnableWithFallbacks":
        return "fallbacks run only when the first runnable fails"
    if "OutputParser" in name or "Parser" in name:
        return f"{name} parses model output into values that later steps read"
    return f"{name} is not a runnable Parrot compiles"


def _is_config_binding(node: Runnable[Any, Any]) -> bool:
    """``.with_config()``: a binding with no call arguments."""
    return (
        isinstance(node, RunnableBinding)
        and not node.kwargs
        and not isinstance(node.bound, ParrotSettings)
        and not _is_text_only(node)
    )


def _is_text_only(node: Runnable[Any, Any]) -> bool:
    return isinstance(node, RunnableBinding) and _TEXT_ONLY in (node.config.get("tags") or ())


def _is_document_chain(node: Runnable[Any, Any]) -> bool:
    qualified = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(node).__mro__}
    return bool(qualified.intersection(_DOCUMENT_CHAINS))


def _models_inside(node: Any) -> Iterator[BaseLanguageModel[Any]]:
    """The language models held by a chain's fields, however deep."""
    if isinstance(node, BaseLanguageModel):
        yield node
    elif isinstance(node, RunnableBinding):
        yield from _models_inside(node.bound)
    elif isinstance(node, BaseModel) and _is_document_chain(node):  # type: ignore[arg-type]
        for name in type(node).model_fields:
            yield from _models_inside(getattr(node, name))


def _fills_verbatim(prompt: BasePromptTemplate, value: Any) -> bool:
    """True if every field a placeholder fills copies it as it is: plain ``{name}`` fields of
    f-string templates whose value is a string, or a messages placeholder."""
    values = value if isinstance(value, dict) else dict.fromkeys(prompt.input_variables[:1], value)
    deferred = {name for name, entry in values.items() if holds_placeholder(entry)}
    if any(not isinstance(values[name], str) for name in deferred if _used_as_text(prompt, name)):
        return False
    if isinstance(prompt, PromptTemplate):
        return _plain_fields(prompt, deferred)
    if isinstance(prompt, ChatPromptTemplate):
        for message in prompt.messages:
            if isinstance(message, BaseStringMessagePromptTemplate):
                if not isinstance(message.prompt, PromptTemplate) or not _plain_fields(message.prompt, deferred):
                    return False
            elif not isinstance(message, MessagesPlaceholder) and isinstance(message, BasePromptTemplate):
                return False
        return True
    return False


def _used_as_text(prompt: BasePromptTemplate, name: str) -> bool:
    if isinstance(prompt, ChatPromptTemplate):
        return not any(isinstance(m, MessagesPlaceholder) and m.variable_name == name for m in prompt.messages)
    return True


def _plain_fields(template: PromptTemplate, deferred: set[str]) -> bool:
    if not deferred.intersection(template.input_variables):
        return True
    if template.template_format != "f-string":
        return False
    for _, field_name, spec, conversion in string.Formatter().parse(template.template):
        if field_name is None:
            continue
        base = field_name.split(".")[0].split("[")[0]
        if base in deferred and (spec or conversion or field_name != base):
            return False
    return True


def _name(node: Runnable[Any, Any]) -> str:
    name = node.get_name()
    kind = type(node).__name__
    return kind if name == kind else f"{kind} {name!r}"


def _explain(node: Runnable[Any, Any], trust_code: bool, depth: int) -> list[str]:
    pad = "  " * depth
    children: Sequence[Runnable[Any, Any]] = ()
    if isinstance(node, RunnableSequence):
        children = node.steps
    elif isinstance(node, RunnableParallel):
        children = list(node.steps__.values())
    elif isinstance(node, RunnableAssign):
        children = list(node.mapper.steps__.values())
    elif isinstance(node, RunnableEachBase) or _is_config_binding(node):
        children = [node.bound]
    if children:
        lines = [f"{pad}{_name(node)}"]
        for child in children:
            lines.extend(_explain(child, trust_code, depth + 1))
        return lines
    reason = _client_reason(node, trust_code)
    return [f"{pad}{_name(node)}: " + ("compiled" if reason is None else f"runs in the client ({reason})")]
