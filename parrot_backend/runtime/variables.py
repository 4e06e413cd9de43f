"""Semantic variables at run time: a value produced once, readable while it is produced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

from parrot_backend.errors import CallFailedError

VariableState = Literal["pending", "streaming", "done", "failed"]


class Variable:
    """A text slot filled by one writer; readers wait for it or follow it as it grows."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.text = value or ""
        self.state: VariableState = "done" if value is not None else "pending"
        self.error: str | None = None
        self._changed = asyncio.Event()

    def update(self, text: str) -> None:
        """The value so far (cumulative)."""
        if self.state in ("done", "failed"):
            return
        self.text, self.state = text, "streaming"
        self._notify()

    def finish(self, text: str) -> None:
        if self.state in ("done", "failed"):
            return
        self.text, self.state = text, "done"
        self._notify()

    def fail(self, error: str) -> None:
        if self.state in ("done", "failed"):
            return
        self.error, self.state = error, "failed"
        self._notify()

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    async def value(self) -> str:
        """The final value; :class:`CallFailedError` if its call (or an input of it) failed."""
        while not self.finished:
            await self._wait()
        if self.state == "failed":
            raise CallFailedError(f"variable {self.name!r} has no value: {self.error}")
        return self.text

    async def stream(self) -> AsyncIterator[str]:
        """The value's new text as it is produced; raises like :meth:`value` on failure."""
        shown = 0
        while True:
            if len(self.text) > shown:
                chunk, shown = self.text[shown:], len(self.text)
                yield chunk
                continue  # the value may have grown while the reader was away
            if self.finished:
                if self.state == "failed":
                    raise CallFailedError(f"variable {self.name!r} has no value: {self.error}")
                return
            await self._wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self) -> None:
        await self._changed.wait()
