"""Deferred calls: while a :class:`Trace` is active, Parrot's models record calls instead of sending them.

Framework-neutral: the LangChain and LlamaIndex integrations build on it. Inside a trace, Parrot's
model classes return a *placeholder* for each output: a short
string that stands for a variable of a program not yet submitted. Code that only moves text around
(prompt templates filling it in, documents carrying it, ``"\\n".join``) carries the placeholder
along, so a later call's prompt may contain earlier placeholders: that call reads their variables,
and the backend chains the two without a client round trip. Calls are submitted together, as one
program, when the trace ends or when Python needs a real value (:meth:`Trace.resolve`).

Placeholders are ``"\\x00pv<trace>_<n>\\x00"``. A placeholder that reaches a model in another form
(for example escaped by ``repr``) cannot be mapped back, and raises :class:`CompileError`.
"""

from __future__ import annotations

import contextlib
import operator
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from parrot_backend.errors import ParrotError
from parrot_backend.program.model import Call, Message, Objective, Output, Program, Ref, Segment, Text
from parrot_backend.program.sampling import SamplingParams
from parrot_integrations.client import ParrotClient, ProgramRunHandle

_ACTIVE: ContextVar[Trace | None] = ContextVar("parrot_trace", default=None)
_PLACEHOLDER = re.compile(r"\x00pv([0-9a-f]{8})_(\d+)\x00")


class CompileError(ParrotError):
    """A chain cannot run as a Parrot program as written; the message says what to change."""

    status_code = 400


class TracedModel(Protocol):
    """What a trace needs of a Parrot model: where its backend is and how it samples."""

    base_url: str
    model_name: str

    def _client_args(self) -> dict[str, Any]: ...

    def _check_traceable(self) -> None:
        """Raise :class:`CompileError` if the model's calls cannot be deferred."""

    def _call_sampling(self, stop: list[str] | None, kwargs: dict[str, Any]) -> SamplingParams: ...


def active_trace() -> Trace | None:
    """The trace recording calls in this context, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """Run code with no active trace: Parrot models inside it call the backend at once."""
    token = _ACTIVE.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


@dataclass
class Submission:
    """One program sent to a backend, and the handle to read it."""

    program: Program
    handle: ProgramRunHandle
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # output variable -> call record


@dataclass
class _Backend:
    """Calls waiting for one backend and model, and what was sent to it."""

    client: ParrotClient
    model: str
    pending: list[Call] = field(default_factory=list)
    limits: dict[str, Any] | None = None


class Trace:
    """Calls recorded in one context, submitted as few programs as the code allows.

    Use it as a context manager; :meth:`resolve` turns any value holding placeholders into the
    real one (submitting what is pending and waiting for the values it needs).
    """

    def __init__(self, *, exact: bool = False, objective: Objective = "latency") -> None:
        self.id = uuid.uuid4().hex[:8]
        self.exact = exact  # decisions on output lengths wait for the outputs, never estimate them
        self.objective = objective  # of the programs' outputs: is someone waiting for them?
        self.estimates: list[Estimate] = []
        self._lock = threading.RLock()  # LangGraph and RunnableParallel record from several threads
        self._budgets: dict[str, int] = {}  # variable -> max_new_tokens of its call
        self.submissions: list[Submission] = []
        self._backends: dict[tuple[str, str | None, str], _Backend] = {}
        self._owner: dict[str, _Backend] = {}  # variable -> backend it runs on
        self._submitted: dict[str, Submission] = {}  # variable -> submission holding it
        self._values: dict[str, str] = {}
        self._chat_models: dict[str, str] = {}  # chat call output variable -> model name
        self._count = 0
        self._token: Any = None

    def __enter__(self) -> Trace:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *_: object) -> None:
        _ACTIVE.reset(self._token)
        for backend in self._backends.values():
            backend.client.close()

    # ------------------------------------------------------------------ recording

    def record_completion(
        self, model: TracedModel, prompts: list[str], stop: list[str] | None, kwargs: dict
    ) -> list[str]:
        """Record one completion call per prompt; return their placeholders."""
        with self._lock:
            return self._record_completion(model, prompts, stop, kwargs)

    def _record_completion(
        self, model: TracedModel, prompts: list[str], stop: list[str] | None, kwargs: dict
    ) -> list[str]:
        backend = self._backend(model)
        sampling = model._call_sampling(stop, kwargs)
        names = [self._add(backend, sampling, template=self._segments(prompt, backend)) for prompt in prompts]
        return [self._placeholder(name) for name in names]

    def record_chat(
        self, model: TracedModel, messages: list[dict[str, str]], stop: list[str] | None, kwargs: dict
    ) -> str:
        """Record a chat call (``messages`` as role/content dicts); return its placeholder."""
        with self._lock:
            return self._record_chat(model, messages, stop, kwargs)

    def _record_chat(
        self, model: TracedModel, messages: list[dict[str, str]], stop: list[str] | None, kwargs: dict
    ) -> str:
        backend = self._backend(model)
        sampling = model._call_sampling(stop, kwargs)
        if sampling.max_new_tokens == 2**31 - 1:  # "until the context is full": the backend's own cap
            sampling = sampling.model_copy(update={"max_new_tokens": self._limits(backend)["max_new_tokens"]})
        converted = [
            Message(role=m["role"], content=self._segments(m["content"], backend))  # type: ignore[arg-type]
            for m in messages
        ]
        name = self._add(backend, sampling, messages=converted)
        self._chat_models[name] = model.model_name
        return self._placeholder(name)

    def _add(self, backend: _Backend, sampling: SamplingParams, **prompt: Any) -> str:
        """Queue a call on ``backend``; return the name of the variable it writes."""
        n = self._count
        self._count += 1
        name = f"v{n}"
        backend.pending.append(Call(id=f"c{n}", output=name, sampling=sampling, **prompt))
        self._owner[name] = backend
        self._budgets[name] = sampling.max_new_tokens
        return name

    def _placeholder(self, name: str) -> str:
        return f"\x00pv{self.id}_{name.removeprefix('v')}\x00"

    def _backend(self, model: TracedModel) -> _Backend:
        model._check_traceable()
        args = model._client_args()
        key = (model.base_url.rstrip("/"), args.get("api_key"), model.model_name)
        if key not in self._backends:
            self._backends[key] = _Backend(ParrotClient(model.base_url, **args), model.model_name)
        return self._backends[key]

    def _limits(self, backend: _Backend) -> dict[str, Any]:
        if backend.limits is None:
            backend.limits = backend.client.limits()
        return backend.limits

    # ------------------------------------------------------------------ placeholders

    def _segments(self, text: str, backend: _Backend) -> list[Segment]:
        """``text`` as a template: each placeholder of a call pending on ``backend`` becomes a
        reference; any other placeholder is replaced by its value (read from the backend)."""
        matches = list(_PLACEHOLDER.finditer(text))

        def pending_here(name: str) -> bool:
            return self._owner.get(name) is backend and name not in self._submitted

        # Values read first: reading submits every backend's pending calls, this one's included,
        # and a placeholder is a reference only if its call is still pending here afterwards.
        self._read([name for name in map(self._name_of, matches) if not pending_here(name)])
        self._read([name for name in map(self._name_of, matches) if not pending_here(name)])
        segments: list[Segment] = []
        position = 0
        for match in matches:
            literal = text[position : match.start()]
            position = match.end()
            self._check_intact(literal)
            if literal:
                segments.append(Text(text=literal))
            name = self._name_of(match)
            segments.append(Ref(var=name) if pending_here(name) else Text(text=self._values[name]))
        tail = text[position:]
        self._check_intact(tail)
        if tail:
            segments.append(Text(text=tail))
        return _merge_texts(segments)

    def _name_of(self, match: re.Match[str]) -> str:
        if match.group(1) != self.id:
            raise CompileError(
                "a placeholder of another Parrot trace reached this one: a value of a chain run was kept "
                "and reused in another run; resolve it first"
            )
        return f"v{match.group(2)}"

    def _check_intact(self, text: str) -> None:
        if re.search(f"pv{self.id}_\\d", text):
            raise CompileError(
                "a model output reached a prompt transformed (for example through repr() or str() of a "
                "list): Parrot cannot tell which text it stands for. Format outputs as plain strings, or "
                "run this code without compiling it"
            )

    # ------------------------------------------------------------------ values

    def flush(self) -> None:
        """Submit every pending call (one program per backend)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        for backend in self._backends.values():
            if not backend.pending:
                continue
            calls, backend.pending = backend.pending, []
            read = {name for call in calls for name in call.reads()}
            outputs = [Output(name=call.output, objective=self.objective) for call in calls if call.output not in read]
            program = Program(calls=calls, outputs=outputs, model=backend.model)
            submission = Submission(program, backend.client.submit(program))
            self.submissions.append(submission)
            for call in calls:
                self._submitted[call.output] = submission

    def _value(self, name: str) -> str:
        with self._lock:
            self._read([name])
            return self._values[name]

    def _read(self, names: list[str]) -> None:
        """Fetch the values of ``names`` not known yet: one request per program holding them."""
        missing = [name for name in dict.fromkeys(names) if name not in self._values]
        if any(name not in self._submitted for name in missing):
            self._flush()
        by_submission: dict[int, list[str]] = {}
        for name in missing:
            by_submission.setdefault(id(self._submitted[name]), []).append(name)
        for group in by_submission.values():
            self._values.update(self._submitted[group[0]].handle.get_many(group))

    def resolve(self, value: Any, special: Callable[[Any], Any | None] = lambda _: None) -> Any:
        """``value`` with every placeholder replaced by its variable's value (strings, dicts, lists,
        tuples, and the framework types registered with :func:`register_value_type`).

        ``special(item)`` may rebuild an object itself (return the new one, or None to go on).
        """

        def text(raw: str) -> str:
            return _PLACEHOLDER.sub(lambda m: self._values[self._name_of(m)], raw)

        with self._lock:
            self._read([self._name_of(match) for match in _placeholders(value)])
            return _map_strings(value, text, special)

    def chat_output(self, text: str) -> tuple[str, str] | None:
        """If ``text`` is exactly one chat call's placeholder: the call's value and model name."""
        match = _PLACEHOLDER.fullmatch(text)
        if match is None or self._name_of(match) not in self._chat_models:
            return None
        name = self._name_of(match)
        return self._value(name), self._chat_models[name]

    def record_of(self, text: str) -> dict[str, Any]:
        """The backend's record of the call whose placeholder is ``text`` (tokens, finish reason)."""
        match = _PLACEHOLDER.fullmatch(text)
        assert match is not None
        return self._record(self._name_of(match))

    def count_tokens(self, text: str, exact: Callable[[str], int]) -> int | DeferredTokenCount:
        """The token count of ``text`` (``exact`` counts real text). While ``text`` holds outputs
        not yet generated, a :class:`DeferredTokenCount` that answers comparisons from bounds
        (each output at most its ``max_new_tokens``) without waiting for them when it can."""
        if self.exact or not holds_placeholder(text):
            return exact(self.resolve(text))
        names = [self._name_of(match) for match in _PLACEHOLDER.finditer(text)]
        static = exact(_PLACEHOLDER.sub("", text))
        slack = 4 * len(names)  # tokens may merge or split where an output meets the text around it
        count = DeferredTokenCount(
            low=max(static - slack, 0),
            high=static + sum(self._budgets[name] for name in names) + slack,
            exact=lambda: exact(self.resolve(text)),
        )
        self.estimates.append(count)
        return count

    def fill(self, text: str, filler: Callable[[int], str]) -> str:
        """``text`` with each placeholder replaced by ``filler(max_new_tokens of its call)``: a
        stand-in as long as the output may be, for decisions taken before the outputs exist."""
        return _PLACEHOLDER.sub(lambda m: filler(self._budgets[self._name_of(m)]), text)

    def outputs(self) -> list[str]:
        """The value of every call recorded so far (submitting what is pending)."""
        with self._lock:
            self._read(list(self._owner))
            return [self._values[name] for name in self._owner]

    def estimates_held(self) -> bool:
        """True if every decision taken on estimated lengths is the one the real outputs give."""
        return all(estimate.held() for estimate in self.estimates)

    def _record(self, name: str) -> dict[str, Any]:
        submission = self._submitted[name]
        if name not in submission.records:
            submission.records = {record["output"]: record for record in submission.handle.status()["calls"]}
        return submission.records[name]

    def describe(self) -> list[str]:
        """One line per submitted program and per call, for :func:`explain` reports."""
        lines = []
        for i, submission in enumerate(self.submissions):
            lines.append(f"program {i + 1} ({submission.handle.id}): {len(submission.program.calls)} calls")
            lines.extend(f"  {_describe_call(call)}" for call in submission.program.calls)
        return lines


class Estimate(Protocol):
    """A decision taken before the outputs it depends on existed, checked once they do."""

    def held(self) -> bool:
        """True if the real outputs lead to the same decision."""
        ...


class DeferredTokenCount:
    """The token count of text holding outputs not generated yet, known between ``low`` and
    ``high``. Comparisons that the bounds decide are answered at once (and checked later by
    :meth:`held`); anything else reads the real count, waiting for the outputs."""

    def __init__(self, low: int, high: int, exact: Callable[[], int]) -> None:
        self.low, self.high = low, high
        self._exact = exact
        self._value: int | None = None
        self._answers: list[tuple[str, int, bool]] = []

    def __int__(self) -> int:
        if self._value is None:
            self._value = self._exact()
        return self._value

    __index__ = __int__

    def _compare(self, op: str, other: object) -> bool:
        if not isinstance(other, int | DeferredTokenCount):
            return NotImplemented
        bound = int(other)
        compare = _COMPARISONS[op]
        if self._value is None:
            low, high = compare(self.low, bound), compare(self.high, bound)
            if low == high:  # monotone comparison: both ends agree, so does every count between
                self._answers.append((op, bound, low))
                return low
        return compare(int(self), bound)

    def __gt__(self, other: object) -> bool:
        return self._compare("gt", other)

    def __ge__(self, other: object) -> bool:
        return self._compare("ge", other)

    def __lt__(self, other: object) -> bool:
        return self._compare("lt", other)

    def __le__(self, other: object) -> bool:
        return self._compare("le", other)

    def __eq__(self, other: object) -> bool:
        return int(self) == other

    def __hash__(self) -> int:
        return hash(int(self))

    def __add__(self, other: int) -> int:
        return int(self) + other

    __radd__ = __add__

    def __sub__(self, other: int) -> int:
        return int(self) - other

    def __rsub__(self, other: int) -> int:
        return other - int(self)

    def __repr__(self) -> str:
        return str(self._value) if self._value is not None else f"DeferredTokenCount({self.low}..{self.high})"

    def held(self) -> bool:
        """True if the answers given from bounds are those the real count gives."""
        return all(_COMPARISONS[op](int(self), bound) == answer for op, bound, answer in self._answers)


_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def holds_placeholder(value: Any) -> bool:
    """True if ``value`` (strings, messages, documents, prompt values, containers) holds a
    placeholder of a trace."""
    return bool(_placeholders(value))


def _placeholders(value: Any) -> list[re.Match[str]]:
    found: list[re.Match[str]] = []

    def note(text: str) -> str:
        found.extend(_PLACEHOLDER.finditer(text))
        return text

    _map_strings(value, note)
    return found


def _merge_texts(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for segment in segments:
        if isinstance(segment, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(text=merged[-1].text + segment.text)
        else:
            merged.append(segment)
    return merged


def _describe_call(call: Call) -> str:
    def show(template: list[Segment]) -> str:
        text = "".join(f"{{{s.var}}}" if isinstance(s, Ref) else s.text for s in template)
        return repr(text if len(text) <= 70 else text[:40] + " ... " + text[-25:])

    if call.messages is not None:
        body = " ".join(f"{m.role}:{show(m.content)}" for m in call.messages)
    else:
        body = show(call.template or [])
    reads = f" reads {', '.join(call.reads())}" if call.reads() else ""
    return f"{call.id} -> {call.output}{reads}: {body}"


_VALUE_TYPES: list[type[BaseModel]] = []


def register_value_type(cls: type[BaseModel]) -> None:
    """Let traces look for placeholders in the fields of ``cls`` instances (messages, documents,
    prompt values: the framework types that carry text between steps)."""
    if cls not in _VALUE_TYPES:
        _VALUE_TYPES.append(cls)


def _map_strings(
    value: Any,
    text: Callable[[str], str],
    special: Callable[[Any], Any | None] = lambda _: None,
) -> Any:
    """``value`` rebuilt with ``text`` applied to every string it holds."""

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return text(item)
        replaced = special(item)
        if replaced is not None:
            return replaced
        if isinstance(item, dict):
            return {key: walk(entry) for key, entry in item.items()}
        if isinstance(item, list):
            return [walk(entry) for entry in item]
        if isinstance(item, tuple):
            return tuple(walk(entry) for entry in item)
        if isinstance(item, tuple(_VALUE_TYPES)):
            changed = {}
            for name in type(item).model_fields:
                entry = getattr(item, name)
                new = walk(entry)
                if new is not entry:
                    changed[name] = new
            return item.model_copy(update=changed) if changed else item
        return item

    return walk(value)
