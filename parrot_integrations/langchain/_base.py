"""What ChatParrot and ParrotLLM share: langchain-openai-style settings, the HTTP plumbing, and
token counting by the served model's tokenizer (through the backend's ``/v1/tokenize``)."""

from __future__ import annotations

from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache
from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from parrot_integrations.client import AsyncParrotClient, ParrotClient
from parrot_integrations.tracing import CompileError, active_trace


class ParrotSettings(BaseModel):
    """Connection and sampling settings, named as langchain-openai names them.

    ``base_url`` and ``api_key`` default to ``$PARROT_BASE_URL`` and ``$PARROT_API_KEY``; keyword
    arguments the class does not know are collected into ``model_kwargs`` and sent with each call
    (for example ``ignore_eos=True`` or ``top_k=20``, under SGLang's names).
    """

    model_name: str = Field(default="parrot", alias="model")
    base_url: str = Field(default_factory=from_env("PARROT_BASE_URL", default="http://127.0.0.1:8000"))
    api_key: SecretStr | None = Field(default_factory=secret_from_env("PARROT_API_KEY", default=None))
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    timeout: float | None = 600.0
    max_retries: int = 2
    streaming: bool = False
    model_kwargs: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _collect_extra(cls, values: Any) -> Any:
        # Unknown keyword arguments become request parameters, as in langchain-openai.
        if not isinstance(values, dict):
            return values
        known = {name for name, info in cls.model_fields.items()} | {
            info.alias for info in cls.model_fields.values() if info.alias
        }
        extra = {key: values.pop(key) for key in list(values) if key not in known}
        if extra:
            values["model_kwargs"] = {**values.get("model_kwargs", {}), **extra}
        return values

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "PARROT_API_KEY"}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, **self._default_params}

    @property
    def _default_params(self) -> dict[str, Any]:
        params = {"temperature": self.temperature, "max_tokens": self.max_tokens, **self.model_kwargs}
        return {key: value for key, value in params.items() if value is not None}

    def _client_args(self) -> dict[str, Any]:
        """Arguments of :class:`~parrot_integrations.client.ParrotClient` for this model's backend."""
        key = self.api_key.get_secret_value() if self.api_key else None
        return {"api_key": key, "timeout": self.timeout or 600.0, "retries": self.max_retries}

    def _client(self) -> ParrotClient:
        return ParrotClient(self.base_url, **self._client_args())

    def _aclient(self) -> AsyncParrotClient:
        return AsyncParrotClient(self.base_url, **self._client_args())

    def _check_traceable(self) -> None:
        """Compiled runs defer calls; LangChain's LLM cache would store their placeholders as answers."""
        cache = getattr(self, "cache", None)  # a field of LangChain's base classes
        if cache is True or isinstance(cache, BaseCache) or (cache is None and get_llm_cache() is not None):
            raise CompileError(
                "LangChain's LLM cache is on: it would store placeholders as answers. Run compiled chains "
                "with models built with cache=False (the backend's prefix cache still applies)"
            )

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` by the tokenizer of the model the backend serves.

        LangChain's default loads GPT-2's tokenizer from the Hugging Face hub (which fails
        offline, and counts another model's tokens); ``custom_get_token_ids``, when set, wins.
        """
        custom = getattr(self, "custom_get_token_ids", None)  # a field of LangChain's base classes
        if custom is not None:
            return custom(text)
        return self._tokenize({"prompt": text})

    def get_num_tokens(self, text: str) -> int:
        """The number of tokens of ``text``. Inside a compiled run, text that holds outputs not
        generated yet gives a count that answers comparisons from bounds where it can (see
        :class:`~parrot_integrations.tracing.DeferredTokenCount`)."""
        trace = active_trace()
        if trace is not None:
            return trace.count_tokens(text, lambda real: len(self.get_token_ids(real)))  # type: ignore[return-value]
        return len(self.get_token_ids(text))

    def _tokenize(self, body: dict[str, Any]) -> list[int]:
        trace = active_trace()
        if trace is not None:  # counting text that holds deferred outputs needs their values
            body = trace.resolve(body)
        with self._client() as client:
            return client.post("/v1/tokenize", body)["tokens"]
