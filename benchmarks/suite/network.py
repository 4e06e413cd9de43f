"""The client's side of the network in a benchmark: a simulated round trip on every request the
client sends to the servers under test, and a log of those requests per app.

The delay is added in httpx's transports, so it applies to every client that speaks through httpx
(``openai`` under LangChain's ``ChatOpenAI``, Parrot's client), sync or async, without touching
the app. Each app runs with :func:`app_scope` set; requests are logged against it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

_current_app: ContextVar[int | None] = ContextVar("parrot_bench_app", default=None)

# Replies whose JSON the log keeps: the chat calls (to find an app's calls and their dataflow) and
# program submissions (to read a program's call timeline afterwards).
_KEEP_BODIES = ("/chat/completions", "/v1/programs")


@dataclass
class Request:
    """One client-to-server request, as the client saw it (wall-clock seconds)."""

    app: int | None
    method: str
    path: str
    sent: float  # after the simulated delay, when the request left
    done: float = 0.0  # reply headers (and, for kept bodies, the whole body) received
    body: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None


@dataclass
class ClientNetwork:
    """Delays and logs the requests sent to ``hosts`` (``host:port`` strings)."""

    hosts: set[str] = field(default_factory=set)
    seconds: float = 0.0
    log: list[Request] = field(default_factory=list)

    def watch(self, base_url: str) -> None:
        """Treat requests to ``base_url``'s host as client-to-server requests."""
        self.hosts.add(httpx.URL(base_url).netloc.decode())

    def install(self) -> None:
        """Patch the HTTP transports of httpx, and of httpx2 where installed (``openai`` 3 speaks
        through it), so that every request goes through this object."""
        import importlib

        for name in ("httpx", "httpx2"):
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            self._patch(module.HTTPTransport, module.AsyncHTTPTransport)

    def _patch(self, sync_cls: Any, async_cls: Any) -> None:
        net, sync, async_ = self, sync_cls.handle_request, async_cls.handle_async_request
        if getattr(sync, "_parrot_bench", False):
            return

        def handle(transport: Any, request: Any) -> Any:
            entry = net._before(request)
            if entry is not None:
                time.sleep(net.seconds)
                entry.sent = time.time()
            response = sync(transport, request)
            if entry is not None:
                if entry.body is not None:
                    response.read()
                net._after(entry, response)
            return response

        async def ahandle(transport: Any, request: Any) -> Any:
            entry = net._before(request)
            if entry is not None:
                await asyncio.sleep(net.seconds)
                entry.sent = time.time()
            response = await async_(transport, request)
            if entry is not None:
                if entry.body is not None:
                    await response.aread()
                net._after(entry, response)
            return response

        handle._parrot_bench = ahandle._parrot_bench = True  # type: ignore[attr-defined]
        sync_cls.handle_request = handle
        async_cls.handle_async_request = ahandle

    def requests_of(self, app: int) -> list[Request]:
        return [r for r in self.log if r.app == app]

    def _before(self, request: Any) -> Request | None:
        if request.url.netloc.decode() not in self.hosts:
            return None
        entry = Request(_current_app.get(), request.method, request.url.path, time.time())
        if request.url.path.endswith(_KEEP_BODIES) and request.method == "POST":
            entry.body = _json(request.content)
        self.log.append(entry)
        return entry

    @staticmethod
    def _after(entry: Request, response: Any) -> None:
        entry.done = time.time()
        if entry.body is not None and response.is_success:
            entry.reply = _json(response.content)


@contextmanager
def app_scope(app: int) -> Iterator[None]:
    """Log the requests made inside the block (and the tasks it starts) against ``app``."""
    token = _current_app.set(app)
    try:
        yield
    finally:
        _current_app.reset(token)


def _json(content: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
