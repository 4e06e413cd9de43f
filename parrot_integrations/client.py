"""Python clients of the Parrot backend, and a builder to write programs by hand.

    from parrot_integrations.client import ParrotClient, ProgramBuilder

    p = ProgramBuilder()
    doc = p.input("doc", open("speech.txt").read())
    summary = p.call("Summarize in one sentence:\\n{doc}\\nSummary:", max_new_tokens=64)
    title = p.call("Give a title to this summary: {summary}\\nTitle:", max_new_tokens=12)
    p.get(title)

    with ParrotClient("http://127.0.0.1:8000") as client:
        run = client.submit(p.build())
        print(run.get(title))

:class:`ParrotClient` and :class:`AsyncParrotClient` share :class:`_BaseClient` (everything that
is not I/O). Errors are the backend's own classes (:mod:`parrot_backend.errors`), carrying the
server's message; a backend that cannot be reached raises :class:`BackendUnavailableError`.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from parrot_backend.errors import (
    AuthenticationError,
    BackendUnavailableError,
    CallFailedError,
    EngineError,
    EngineNotReadyError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    NotSupportedError,
    ParrotError,
    ProgramError,
    ReadTimeoutError,
    TooManyRequestsError,
)
from parrot_backend.program.model import Call, Message, Objective, Output, Program, Ref, Segment, Text
from parrot_backend.program.sampling import SamplingParams

M = TypeVar("M", bound=BaseModel)

_ERRORS_BY_STATUS: dict[int, type[ParrotError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    408: ReadTimeoutError,
    422: ProgramError,
    424: CallFailedError,
    429: TooManyRequestsError,
    501: NotSupportedError,
    502: EngineError,
    503: EngineNotReadyError,
}


def raise_for_response(response: httpx.Response) -> None:
    """Raise the backend's error class for an error response (its body already read)."""
    if response.status_code < 400:
        return
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text or response.reason_phrase
    raise _ERRORS_BY_STATUS.get(response.status_code, ParrotError)(message)


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON events of server-sent-event lines, until ``[DONE]``; an error event is raised."""
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line.removeprefix("data: "))
        if "error" in event:
            error = event["error"]
            raise _ERRORS_BY_STATUS.get(error.get("code", 500), ParrotError)(error.get("message", str(error)))
        yield event


def validated(model: type[M], params: dict[str, Any], who: str) -> M:
    """``params`` as ``model``, or :class:`InvalidRequestError` naming each problem."""
    try:
        return model.model_validate(params)
    except ValidationError as error:
        details = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
        raise InvalidRequestError(f"{who}: {details}") from error


@contextmanager
def backend_errors(base_url: str) -> Iterator[None]:
    """Turn transport failures into :class:`BackendUnavailableError` naming the backend."""
    try:
        yield
    except httpx.TimeoutException as error:
        raise ReadTimeoutError(
            f"the Parrot backend at {base_url} did not answer in time ({type(error).__name__}); "
            "raise the client's timeout for long generations"
        ) from error
    except httpx.TransportError as error:
        raise BackendUnavailableError(f"cannot reach the Parrot backend at {base_url}: {error!r}") from error


@dataclass(frozen=True)
class Var:
    """A handle on a variable of a program being built."""

    name: str


def parse_template(template: str, known: set[str]) -> list[Segment]:
    """``"Summarize {doc}"`` as segments; ``{{`` and ``}}`` are literal braces.

    Every ``{name}`` must name a variable already declared in the builder.
    """
    segments: list[Segment] = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        if literal:
            segments.append(Text(text=literal))
        if name is None:
            continue
        if spec or conversion or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
            raise ProgramError(f"template placeholder {{{name}}} must be a plain variable name")
        if name not in known:
            raise ProgramError(f"template references {name!r}, which is not declared yet (declare inputs first)")
        segments.append(Ref(var=name))
    return segments


@dataclass
class ProgramBuilder:
    """Build a :class:`Program` from inputs, calls written as text templates, and reads."""

    inputs: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)

    def _known(self) -> set[str]:
        return {*self.inputs, *(call.output for call in self.calls)}

    def input(self, name: str, value: str) -> Var:
        """Declare an input variable with its value."""
        if name in self._known():
            raise ProgramError(f"variable {name!r} is already declared")
        self.inputs[name] = value
        return Var(name)

    def call(self, template: str, *, output: str | None = None, id: str | None = None, **sampling: Any) -> Var:
        """Add a completion call; ``sampling`` takes SGLang's names (``max_new_tokens``, ...)."""
        name = output or f"out_{len(self.calls)}"
        call = Call(
            id=id or f"call_{len(self.calls)}",
            template=parse_template(template, self._known()),
            output=name,
            sampling=SamplingParams(**sampling),
        )
        self.calls.append(call)
        return Var(name)

    def chat(
        self,
        messages: list[tuple[str, str]],
        *,
        output: str | None = None,
        id: str | None = None,
        **sampling: Any,
    ) -> Var:
        """Add a chat call from ``(role, template)`` pairs."""
        name = output or f"out_{len(self.calls)}"
        known = self._known()
        call = Call(
            id=id or f"call_{len(self.calls)}",
            messages=[Message(role=role, content=parse_template(text, known)) for role, text in messages],  # type: ignore[arg-type]
            output=name,
            sampling=SamplingParams(**sampling),
        )
        self.calls.append(call)
        return Var(name)

    def get(self, var: Var, objective: Objective = "latency") -> Var:
        """Declare that the client will read ``var`` (``latency``: interactive, ``throughput``: batch)."""
        self.outputs.append(Output(name=var.name, objective=objective))
        return var

    def build(self) -> Program:
        return Program(inputs=dict(self.inputs), calls=list(self.calls), outputs=list(self.outputs))


class _BaseClient:
    """Everything the sync and async clients share: URLs, headers, error mapping, parsing."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float) -> None:
        self.base_url = (base_url or os.environ.get("PARROT_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        key = api_key or os.environ.get("PARROT_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout = timeout

    @staticmethod
    def _program_json(program: Program | ProgramBuilder) -> dict[str, Any]:
        built = program.build() if isinstance(program, ProgramBuilder) else program
        return built.model_dump(mode="json", exclude_defaults=True)

    @staticmethod
    def _values_params(names: list[str], timeout: float | None) -> dict[str, Any]:
        return {"names": list(names), **({"timeout": timeout} if timeout else {})}

    @staticmethod
    def _variable_path(program_id: str, name: str) -> str:
        return f"/v1/programs/{program_id}/variables/{name}"

    @staticmethod
    def _tokenize_json(text: str) -> dict[str, Any]:
        if not isinstance(text, str):  # a list would come back as a list of lists
            raise InvalidRequestError(f"tokenize takes one string, not {type(text).__name__}")
        return {"prompt": text}


class ParrotClient(_BaseClient):
    """Synchronous client of the Parrot backend."""

    def __init__(
        self, base_url: str | None = None, *, api_key: str | None = None, timeout: float = 600.0, retries: int = 0
    ) -> None:
        super().__init__(base_url, api_key, timeout)
        transport = httpx.HTTPTransport(retries=retries)  # retries of failed connections
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport)

    def __enter__(self) -> ParrotClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        with backend_errors(self.base_url):
            response = self._http.request(method, path, **kwargs)
        raise_for_response(response)
        return response.json()

    def submit(self, program: Program | ProgramBuilder) -> ProgramRunHandle:
        """Submit a program; returns at once with a handle on the running program."""
        reply = self._send("POST", "/v1/programs", json=self._program_json(program))
        return ProgramRunHandle(self, reply["id"])

    def get(self, program_id: str, name: str, timeout: float | None = None) -> str:
        """Wait for a variable's value."""
        params = {"timeout": timeout} if timeout else None
        return self._send("GET", self._variable_path(program_id, name), params=params)["value"]

    def get_many(self, program_id: str, names: list[str], timeout: float | None = None) -> dict[str, str]:
        """Wait for several variables' values, in one request."""
        params = self._values_params(names, timeout)
        return self._send("GET", f"/v1/programs/{program_id}/values", params=params)["values"]

    def stream(self, program_id: str, name: str) -> Iterator[str]:
        """A variable's text as it is produced."""
        for event in self._events("GET", self._variable_path(program_id, name), params={"stream": "true"}):
            if event.get("delta"):
                yield event["delta"]

    def _events(self, method: str, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        with backend_errors(self.base_url), self._http.stream(method, path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_response(response)
            yield from sse_events(response.iter_lines())

    def status(self, program_id: str) -> dict[str, Any]:
        """Status and per-call timeline."""
        return self._send("GET", f"/v1/programs/{program_id}")

    def cancel(self, program_id: str) -> dict[str, Any]:
        return self._send("DELETE", f"/v1/programs/{program_id}")

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` by the tokenizer of the model the engines serve."""
        return self._send("POST", "/v1/tokenize", json=self._tokenize_json(text))["tokens"]

    def limits(self) -> dict[str, Any]:
        """What one program may ask for on this backend (``max_new_tokens``, ``max_calls``, ...)."""
        return self._send("GET", "/v1/limits")

    def models(self) -> dict[str, int | None]:
        """The model names requests may give, with their context length where known."""
        return {m["id"]: m.get("max_model_len") for m in self._send("GET", "/v1/models")["data"]}

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body to a route of the backend (``/v1/chat/completions``, ``/v1/tokenize``, ...)."""
        return self._send("POST", path, json=payload)

    def post_stream(self, path: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The server-sent events of a streamed call (``"stream": true`` is added to the body)."""
        return self._events("POST", path, json={**payload, "stream": True})

    def run(self, program: Program | ProgramBuilder) -> dict[str, str]:
        """Submit and wait for every declared output (every call output if none is declared)."""
        built = program.build() if isinstance(program, ProgramBuilder) else program
        handle = self.submit(built)
        names = [o.name for o in built.outputs] or [c.output for c in built.calls]
        return handle.get_many(names)


@dataclass(frozen=True)
class ProgramRunHandle:
    """A submitted program, read through the client that submitted it."""

    client: ParrotClient
    id: str

    def get(self, var: Var | str, timeout: float | None = None) -> str:
        return self.client.get(self.id, var.name if isinstance(var, Var) else var, timeout)

    def get_many(self, names: list[Var | str], timeout: float | None = None) -> dict[str, str]:
        return self.client.get_many(self.id, [n.name if isinstance(n, Var) else n for n in names], timeout)

    def stream(self, var: Var | str) -> Iterator[str]:
        return self.client.stream(self.id, var.name if isinstance(var, Var) else var)

    def status(self) -> dict[str, Any]:
        return self.client.status(self.id)

    def cancel(self) -> dict[str, Any]:
        return self.client.cancel(self.id)


class AsyncParrotClient(_BaseClient):
    """Asynchronous client of the Parrot backend (same methods as :class:`ParrotClient`)."""

    def __init__(
        self, base_url: str | None = None, *, api_key: str | None = None, timeout: float = 600.0, retries: int = 0
    ) -> None:
        super().__init__(base_url, api_key, timeout)
        transport = httpx.AsyncHTTPTransport(retries=retries)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncParrotClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        with backend_errors(self.base_url):
            response = await self._http.request(method, path, **kwargs)
        raise_for_response(response)
        return response.json()

    async def submit(self, program: Program | ProgramBuilder) -> str:
        """Submit a program; returns its id."""
        return (await self._send("POST", "/v1/programs", json=self._program_json(program)))["id"]

    async def get(self, program_id: str, name: str, timeout: float | None = None) -> str:
        params = {"timeout": timeout} if timeout else None
        return (await self._send("GET", self._variable_path(program_id, name), params=params))["value"]

    async def get_many(self, program_id: str, names: list[str], timeout: float | None = None) -> dict[str, str]:
        params = self._values_params(names, timeout)
        return (await self._send("GET", f"/v1/programs/{program_id}/values", params=params))["values"]

    async def stream(self, program_id: str, name: str) -> AsyncIterator[str]:
        async for event in self._events("GET", self._variable_path(program_id, name), params={"stream": "true"}):
            if event.get("delta"):
                yield event["delta"]

    async def _events(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        with backend_errors(self.base_url):
            async with self._http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for_response(response)
                async for line in response.aiter_lines():
                    for event in sse_events([line]):
                        yield event

    async def status(self, program_id: str) -> dict[str, Any]:
        return await self._send("GET", f"/v1/programs/{program_id}")

    async def cancel(self, program_id: str) -> dict[str, Any]:
        return await self._send("DELETE", f"/v1/programs/{program_id}")

    async def tokenize(self, text: str) -> list[int]:
        return (await self._send("POST", "/v1/tokenize", json=self._tokenize_json(text)))["tokens"]

    async def limits(self) -> dict[str, Any]:
        return await self._send("GET", "/v1/limits")

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._send("POST", path, json=payload)

    def post_stream(self, path: str, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self._events("POST", path, json={**payload, "stream": True})

    async def run(self, program: Program | ProgramBuilder) -> dict[str, str]:
        built = program.build() if isinstance(program, ProgramBuilder) else program
        program_id = await self.submit(built)
        names = [o.name for o in built.outputs] or [c.output for c in built.calls]
        return await self.get_many(program_id, names)
