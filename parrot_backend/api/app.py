"""The backend's HTTP API.

- ``POST /v1/programs`` submits a program; ``GET /v1/programs/{id}`` gives its status and per-call
  timeline; ``GET /v1/programs/{id}/variables/{name}`` waits for a value (``?stream=true``: SSE of
  its text as it is produced); ``GET /v1/programs/{id}/values?names=a&names=b`` waits for several;
  ``DELETE /v1/programs/{id}`` cancels it.
- ``POST /v1/completions`` and ``/v1/chat/completions`` run single calls through the same engines,
  so any OpenAI client works against Parrot.
- ``POST /v1/tokenize`` counts tokens with the engines' tokenizer: ``{"prompt": str | [str]}`` or
  ``{"messages": [...]}`` (the chat template's rendering) gives ``{"tokens", "count"}``.
- ``GET /v1/models`` lists the model names requests may give (``parrot`` and the engines' own);
  another name is a 404.
- ``GET /v1/limits``: what one program may ask for (calls, fan-out, ``max_new_tokens``, ...).
- ``GET/POST /v1/engines``, ``DELETE /v1/engines/{id}`` (drain); ``/health``; ``/metrics``.

Every request carries an API key (``Authorization: Bearer``) naming a tenant, except in the local
single-user mode (no keys configured). Programs are visible only to their tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from parrot_backend import __version__
from parrot_backend.api.metrics import BackendMetrics
from parrot_backend.engines.base import EngineRequest
from parrot_backend.engines.openai_api import (
    ChatCompletionRequest,
    CompletionRequest,
    OpenAIReply,
    OpenAIRequest,
    ReplyPiece,
    TokenizeRequest,
)
from parrot_backend.engines.pool import Dispatched, EnginePool
from parrot_backend.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    ReadTimeoutError,
)
from parrot_backend.http_common import install_error_handlers, sse_response
from parrot_backend.program.model import Program
from parrot_backend.program.validate import Limits
from parrot_backend.runtime.registry import ProgramRegistry
from parrot_backend.runtime.scheduler import Assignment, Scheduler
from parrot_backend.scheduler.policies import SchedulerConfig

logger = logging.getLogger(__name__)

LOCAL_TENANT = "local"
DEFAULT_MODEL = "parrot"  # the name Parrot's LangChain classes send unless told otherwise


@dataclass
class Settings:
    """How the backend runs: its engines, its tenants, its limits."""

    engines: list[str] = field(default_factory=list)  # URLs, optionally "sglang:" or "openai:" prefixed
    api_keys: dict[str, str] = field(default_factory=dict)  # key -> tenant; empty: local mode
    admin_keys: set[str] = field(default_factory=set)  # keys that may manage engines
    limits: Limits = field(default_factory=Limits)
    health_interval_s: float = 5.0
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


class EngineSpec(BaseModel):
    """Body of ``POST /v1/engines``."""

    model_config = ConfigDict(extra="forbid")

    url: str
    kind: Literal["sglang", "openai"] | None = None
    model: str | None = None


def parse_engine_arg(spec: str) -> tuple[str, Literal["sglang", "openai"] | None]:
    """``sglang:http://...``, ``openai:http://...`` or a bare URL (kind detected)."""
    for kind in ("sglang", "openai"):
        if spec.startswith(f"{kind}:") and not spec.startswith(f"{kind}://"):
            return spec[len(kind) + 1 :], kind  # type: ignore[return-value]
    return spec, None


def tenant_of(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The tenant named by the request's API key (``local`` when the backend has no keys)."""
    keys: dict[str, str] = request.app.state.settings.api_keys
    if not keys:
        return LOCAL_TENANT
    tenant = keys.get((authorization or "").removeprefix("Bearer ").strip())
    if tenant is None:
        raise AuthenticationError("a valid API key is required: send 'Authorization: Bearer <key>'")
    return tenant


Tenant = Annotated[str, Depends(tenant_of)]


def admin_of(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Engines are shared by every tenant: only admin keys (or the local mode) manage them."""
    settings: Settings = request.app.state.settings
    if not settings.api_keys and not settings.admin_keys:
        return
    key = (authorization or "").removeprefix("Bearer ").strip()
    if key in settings.admin_keys:
        return
    if key in settings.api_keys:
        raise ForbiddenError("managing engines needs an admin key (parrot serve --admin-key)")
    raise AuthenticationError("a valid API key is required: send 'Authorization: Bearer <key>'")


Admin = Annotated[None, Depends(admin_of)]


def create_app(settings: Settings) -> FastAPI:
    """The backend app; engines in ``settings`` are registered at start-up."""
    pool = EnginePool(health_interval=settings.health_interval_s)
    scheduler = Scheduler(pool, settings.scheduler)
    registry = ProgramRegistry(scheduler, settings.limits)
    metrics = BackendMetrics(pool, registry, scheduler)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for spec in settings.engines:
            url, kind = parse_engine_arg(spec)
            await pool.add(url, kind)
        pool.start_health_checks()
        yield
        await registry.cancel_all()
        await pool.aclose()

    app = FastAPI(title="Parrot backend", version=__version__, lifespan=lifespan)
    app.state.pool, app.state.registry, app.state.settings = pool, registry, settings
    app.state.scheduler = scheduler

    def cache_namespace(tenant: str) -> str | None:
        # Tenants never share a cached prefix. A single-user backend needs no namespace, and
        # engines that isolate namespaced requests (the embedded one) then keep caching.
        return tenant if settings.api_keys else None

    def served_models() -> dict[str, int | None]:
        """Model names with their context length; ``parrot`` stands for any, with the smallest."""
        models = pool.models()
        lengths = [length for length in models.values() if length is not None]
        return {DEFAULT_MODEL: min(lengths) if lengths else None, **models}

    def check_model(model: str | None) -> None:
        if model is not None and model not in served_models():
            raise NotFoundError(
                f"model {model!r} is not served here; use one of {list(served_models())} "
                f"({DEFAULT_MODEL!r} means the model the engines serve)"
            )

    install_error_handlers(app, validation_status=422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        entries = pool.entries()
        return {"status": "ok", "engines": len(entries), "healthy_engines": sum(e.healthy for e in entries)}

    @app.get("/v1/limits")
    async def limits(_: Tenant) -> dict[str, Any]:
        """What one program may ask for (see :class:`~parrot_backend.program.validate.Limits`)."""
        return dataclasses.asdict(settings.limits)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/programs", status_code=201)
    async def submit(program: Program, tenant: Tenant) -> dict[str, Any]:
        """Submit a program; its calls start as soon as their inputs are filled."""
        check_model(program.model)
        run = registry.submit(program, tenant, cache_namespace(tenant))
        metrics.programs_submitted.inc()
        return {
            "id": run.id,
            "status": run.state,
            "variables": {name: f"/v1/programs/{run.id}/variables/{name}" for name in run.variables},
        }

    @app.get("/v1/programs/{program_id}")
    async def status(program_id: str, tenant: Tenant) -> dict[str, Any]:
        return registry.get(program_id, tenant).describe()

    @app.delete("/v1/programs/{program_id}")
    async def cancel(program_id: str, tenant: Tenant) -> dict[str, Any]:
        run = registry.get(program_id, tenant)
        await run.cancel()
        return {"id": run.id, "status": run.state}

    @app.get("/v1/programs/{program_id}/variables/{name}", response_model=None)
    async def read_variable(
        program_id: str,
        name: str,
        tenant: Tenant,
        stream: bool = False,
        timeout: Annotated[float | None, Query(gt=0, le=3600)] = None,
    ) -> dict[str, Any] | StreamingResponse:
        """The variable's value once produced, or (``stream=true``) its text as it is produced."""
        variable = registry.get(program_id, tenant).variable(name)
        if stream:
            return sse_response(_variable_events(variable.stream()))
        try:
            value = await asyncio.wait_for(variable.value(), timeout)
        except TimeoutError:
            raise ReadTimeoutError(f"variable {name!r} was not ready within {timeout} s; read it again later") from None
        return {"name": name, "value": value}

    @app.get("/v1/programs/{program_id}/values")
    async def read_values(
        program_id: str,
        tenant: Tenant,
        names: Annotated[list[str], Query(min_length=1, max_length=1024)],
        timeout: Annotated[float | None, Query(gt=0, le=3600)] = None,
    ) -> dict[str, Any]:
        """Several variables' values in one request, once all of them are produced."""
        run = registry.get(program_id, tenant)
        variables = [run.variable(name) for name in dict.fromkeys(names)]
        try:
            values = await asyncio.wait_for(asyncio.gather(*(v.value() for v in variables)), timeout)
        except TimeoutError:
            raise ReadTimeoutError(f"the variables were not all ready within {timeout} s; read them again") from None
        return {"values": {variable.name: value for variable, value in zip(variables, values, strict=True)}}

    @app.get("/v1/engines")
    async def list_engines(_: Admin) -> dict[str, Any]:
        return {"engines": [entry.describe() for entry in pool.entries()]}

    @app.post("/v1/engines", status_code=201)
    async def add_engine(spec: EngineSpec, _: Admin) -> dict[str, Any]:
        return (await pool.add(spec.url, spec.kind, model=spec.model)).describe()

    @app.delete("/v1/engines/{engine_id}")
    async def drain_engine(engine_id: str, _: Admin) -> dict[str, Any]:
        described = pool.get(engine_id).describe()
        await pool.drain(engine_id)
        return {**described, "draining": True, "removed": True}

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest, tenant: Tenant) -> dict[str, Any] | StreamingResponse:
        if not isinstance(body.prompt, str):
            raise InvalidRequestError(
                "the backend's /v1/completions takes one prompt string; submit a program for more"
            )
        return await _single_call(body, tenant, prompt=body.prompt)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest, tenant: Tenant) -> dict[str, Any] | StreamingResponse:
        return await _single_call(body, tenant, messages=body.template_messages())

    @app.post("/v1/tokenize")
    async def tokenize(body: TokenizeRequest, _: Tenant) -> dict[str, Any]:
        """Token ids and counts by the engines' tokenizer, for a prompt, a list of them, or a chat."""
        tokens = await asyncio.gather(
            *(pool.tokenize(item, add_special_tokens=body.add_special_tokens) for item in body.items())
        )
        return body.reply(list(tokens))

    @app.get("/v1/models")
    async def models(_: Tenant) -> dict[str, Any]:
        """The model names requests may give: ``parrot`` (whatever the engines serve) and theirs."""
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "owned_by": "parrot", "max_model_len": length}
                for name, length in served_models().items()
            ],
        }

    async def _single_call(
        body: OpenAIRequest,
        tenant: Tenant,
        *,
        prompt: str | None = None,
        messages: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any] | StreamingResponse:
        check_model(body.model)
        sampling = body.sampling_params()
        if sampling.max_new_tokens > settings.limits.max_new_tokens:
            sampling = sampling.model_copy(update={"max_new_tokens": settings.limits.max_new_tokens})
        request = EngineRequest(
            body.rid or f"call-{uuid.uuid4().hex}",
            sampling,
            prompt=prompt,
            messages=messages,
            cache_namespace=cache_namespace(tenant),
        )
        chat = messages is not None
        reply = OpenAIReply(
            "chatcmpl" if chat else "cmpl", "chat.completion" if chat else "text_completion", "parrot", body
        )
        # A single request is someone waiting: it goes through the scheduler as a latency call.
        calls = scheduler.run(f"call-{uuid.uuid4().hex}", tenant, request, "latency")
        pieces = _pieces(calls)
        if body.stream:
            return sse_response(reply.stream(pieces, chat=chat))
        last = None
        async for _, piece in pieces:
            last = piece
        assert last is not None
        return reply.complete([last], chat=chat)

    return app


async def _pieces(
    calls: AsyncGenerator[tuple[Dispatched, Assignment], None],
) -> AsyncIterator[tuple[int, ReplyPiece]]:
    async with contextlib.aclosing(calls):
        async for item, _ in calls:
            p = item.progress
            yield (
                0,
                ReplyPiece(
                    text=p.text,
                    finish_reason=p.finish_reason if p.finished else None,
                    prompt_tokens=p.prompt_tokens,
                    cached_tokens=p.cached_tokens,
                    completion_tokens=p.completion_tokens,
                ),
            )


async def _variable_events(deltas: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    async for delta in deltas:
        yield {"delta": delta}
    yield {"done": True}
