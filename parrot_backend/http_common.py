"""HTTP pieces both of Parrot's apps share: error bodies, validation messages, SSE responses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from parrot_backend.errors import ParrotError


def error_body(message: str, status: int) -> dict[str, Any]:
    """``{"error": {"message", "type", "code"}}``: the shape SGLang and OpenAI clients read."""
    kind = "BadRequestError" if status < 500 else "ServiceUnavailableError"
    return {"error": {"message": message, "type": kind, "code": status}}


def describe_validation_errors(errors: Any) -> str:
    """One readable line per pydantic error: the field, and what to fix.

    A field typed as a union (``sampling_params``: one object or a list) fails once per branch;
    the "should be a list" line of the branch the client did not mean is dropped.
    """
    lines: list[str] = []
    for item in errors:
        if item.get("type") == "json_invalid":
            detail = item.get("ctx", {}).get("error", "")
            lines.append(f"malformed JSON body: {detail}".strip())
            continue
        # Union branches show up in the location as type names ("SamplingParams", "list[int]").
        parts = [str(p) for p in item.get("loc", ()) if p != "body" and not _is_type_name(p)]
        location = ".".join(parts) or "body"
        message = item.get("msg", "invalid value").removeprefix("Value error, ")
        lines.append(f"{location}: {message}")
    specific = [line for line in lines if not line.endswith("Input should be a valid list")]
    return "; ".join(dict.fromkeys(specific or lines)) or "invalid request body"


def _is_type_name(part: Any) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def install_error_handlers(app: FastAPI, *, validation_status: int) -> None:
    """Map :class:`ParrotError` to its status and request validation errors to ``validation_status``."""

    @app.exception_handler(ParrotError)
    async def parrot_error(_: Request, error: ParrotError) -> JSONResponse:
        return JSONResponse(error_body(error.message, error.status_code), status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        message = describe_validation_errors(error.errors())
        return JSONResponse(error_body(message, validation_status), status_code=validation_status)


def sse_response(chunks: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    """Server-sent events of JSON chunks, ended by ``data: [DONE]``; an error becomes an event."""

    async def body() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        except ParrotError as error:
            yield f"data: {json.dumps(error_body(error.message, error.status_code))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")
