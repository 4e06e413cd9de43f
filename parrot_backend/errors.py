"""The one error hierarchy of the backend.

Every error a client can cause is a :class:`ParrotError` subclass carrying the HTTP status it maps
to; the HTTP layer turns it into a response once (see ``engines/embedded/server.py``), so the
message written here is the message a user reads.
"""

from __future__ import annotations


class ParrotError(Exception):
    """Base class of every error raised by Parrot's backend."""

    status_code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(ParrotError):
    """The request is malformed or asks for something the engine cannot do (HTTP 400)."""

    status_code = 400


class ContextLengthError(InvalidRequestError):
    """The prompt (plus the tokens asked for) does not fit the model's context or the KV cache."""


class DuplicateRequestError(InvalidRequestError):
    """A request id is already in use by a running request."""


class RequestsPendingError(InvalidRequestError):
    """The operation needs an idle engine (for example flushing the prefix cache)."""


class EngineNotReadyError(ParrotError):
    """The engine is still loading its model, or its generation loop has stopped (HTTP 503)."""

    status_code = 503


class ModelLoadError(ParrotError):
    """A model could not be found or loaded."""


class ProgramError(ParrotError):
    """A program that cannot run: a cycle, a dangling reference, a limit exceeded (HTTP 422)."""

    status_code = 422


class NotFoundError(ParrotError):
    """No such program, variable or engine for this tenant (HTTP 404)."""

    status_code = 404


class AuthenticationError(ParrotError):
    """A missing or unknown API key (HTTP 401)."""

    status_code = 401


class TooManyRequestsError(ParrotError):
    """A tenant has too much work queued already (HTTP 429)."""

    status_code = 429


class EngineError(ParrotError):
    """An engine failed a call: unreachable, an error status, a broken stream (HTTP 502)."""

    status_code = 502


class NotSupportedError(ParrotError):
    """An engine cannot do what was asked, e.g. tokenize on a server without ``/tokenize`` (HTTP 501)."""

    status_code = 501


class CallFailedError(ParrotError):
    """A call of a program failed, or an input it reads did (HTTP 424 when its variable is read)."""

    status_code = 424


class ReadTimeoutError(ParrotError):
    """A read waited longer than the client allowed (HTTP 408)."""

    status_code = 408


class BackendUnavailableError(ParrotError):
    """The Parrot backend cannot be reached (raised by the client)."""

    status_code = 503


class ForbiddenError(ParrotError):
    """The API key is valid but may not do this, e.g. manage engines without an admin key (HTTP 403)."""

    status_code = 403


class ConfigError(ParrotError):
    """The backend was configured with values it cannot use (bad scheduler settings, for example)."""

    status_code = 400
