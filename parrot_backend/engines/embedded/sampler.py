"""Per-request sampling inside transformers' continuous batching.

The generation loop samples one way for the whole batch (``do_sample`` is global). We run it
greedy (argmax) and give it logits processors that carry each request's own temperature, top-k,
top-p, min-p and seed, as the per-row tensors the library passes to continuous-batching
processors. The last processor adds Gumbel noise drawn from a counter-based hash of
(seed, position, token id): the argmax of ``logits / T + Gumbel`` is a sample of
``softmax(logits / T)``, it is reproducible for a given ``sampling_seed`` whatever else shares
the batch, and it is plain tensor code, so it survives CUDA-graph capture. A greedy request
gets temperature 1 and no noise, so its argmax is the model's.
"""

from __future__ import annotations

import random
from typing import Any

import torch
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.logits_process import LogitsProcessorList

from parrot_backend.program.sampling import SamplingParams

_MASK32 = 0xFFFFFFFF
_GREEDY = -1  # noise key of a greedy row


def _float_bits(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(torch.int32)


class _RowProcessor(ContinuousBatchingLogitsProcessor):
    """A processor reading one per-request value from ``logit_processor_kwargs``."""

    key: str
    default: float | int
    value_type: type

    def __init__(self) -> None:
        self.supported_kwargs = {self.key: self.value_type}
        self.ignored_kwargs = ()

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.copy_(self._encode([self.default]).expand_as(int32_tensor))

    def prepare_tensor_args(self, requests_with_new_token: list[Any]) -> torch.Tensor:
        return self._encode([self._value(request) for request in requests_with_new_token])

    def _value(self, request: Any) -> float | int:
        return request.state.logit_processor_kwargs.get(self.key, self.default)

    def _encode(self, values: list[Any]) -> torch.Tensor:
        if self.value_type is float:
            return _float_bits(values)
        return torch.tensor(values, dtype=torch.int32)


class TemperatureProcessor(_RowProcessor):
    """Divides each row by its temperature (greedy rows carry 1.0)."""

    key, default, value_type = "temperature", 1.0, float

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        temperature = tensor_arg[: scores.size(0)].view(torch.float32)
        return scores / temperature.unsqueeze(-1)


class TopKProcessor(_RowProcessor):
    """Keeps the k best tokens of each row (0 keeps all)."""

    key, default, value_type = "top_k", 0, int

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        vocab = scores.size(-1)
        top_k = tensor_arg[: scores.size(0)].to(torch.int64)
        top_k = torch.where(top_k <= 0, vocab, top_k.clamp(max=vocab))
        sorted_scores = torch.sort(scores, dim=-1, descending=True).values
        threshold = sorted_scores.gather(-1, (top_k - 1).unsqueeze(-1))
        return scores.masked_fill(scores < threshold, float("-inf"))


class TopPProcessor(_RowProcessor):
    """Nucleus filtering: keeps the smallest set of tokens whose probability reaches p."""

    key, default, value_type = "top_p", 1.0, float

    # Inductor (torch 2.11) fails to generate code for this cumsum over the vocabulary when the
    # loop is compiled (default_compile_level >= 1); run it eagerly, inside a CUDA graph or not.
    @torch.compiler.disable
    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        top_p = tensor_arg[: scores.size(0)].view(torch.float32).unsqueeze(-1)
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach p; the best token always stays.
        drop_sorted = (cumulative - sorted_scores.softmax(dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        return scores.masked_fill(drop, float("-inf"))


class MinPProcessor(_RowProcessor):
    """Drops tokens whose probability is under min_p times the best token's."""

    key, default, value_type = "min_p", 0.0, float

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        min_p = tensor_arg[: scores.size(0)].view(torch.float32).unsqueeze(-1)
        probs = scores.softmax(dim=-1)
        floor = probs.max(dim=-1, keepdim=True).values * min_p
        return scores.masked_fill(probs < floor, float("-inf"))


class GumbelNoiseProcessor(_RowProcessor):
    """Adds seeded Gumbel noise so that the library's argmax draws a sample."""

    key, default, value_type = "noise_seed", _GREEDY, int

    def __init__(self) -> None:
        super().__init__()
        self._token_ids: dict[tuple[torch.device, int], torch.Tensor] = {}

    def _value(self, request: Any) -> int:
        seed = request.state.logit_processor_kwargs.get(self.key, _GREEDY)
        if seed == _GREEDY:
            return _GREEDY
        # One key per (seed, position): position_offset is the position being predicted, the
        # same whatever the batch or the prefix cache did.
        return _mix(seed, request.state.position_offset) & 0x7FFFFFFF

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        rows, vocab = scores.shape
        keys = tensor_arg[:rows].to(torch.int64).unsqueeze(-1)
        token_ids = self._token_ids.get((scores.device, vocab))
        if token_ids is None:
            token_ids = torch.arange(vocab, device=scores.device, dtype=torch.int64).unsqueeze(0)
            self._token_ids[(scores.device, vocab)] = token_ids
        # A 32-bit integer hash, kept in int64 so no product overflows.
        x = (keys * 0x7FEB352D + token_ids * 0x68E31DA4 + 0x1B873593) & _MASK32
        x = ((x ^ (x >> 15)) * 0x2C1B3C6D) & _MASK32
        x = ((x ^ (x >> 12)) * 0x297A2D39) & _MASK32
        x = x ^ (x >> 15)
        uniform = ((x >> 8).to(torch.float32) + 0.5) / float(1 << 24)
        gumbel = -torch.log(-torch.log(uniform))
        return torch.where(keys >= 0, scores + gumbel, scores)


def _mix(seed: int, position: int) -> int:
    """SplitMix64-style mixing of a seed and a position into one 64-bit value."""
    z = (seed * 0x9E3779B97F4A7C15 + position * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def build_processor_list() -> ContinuousBatchingLogitsProcessorList:
    """The processors the engine installs in place of the library's global ones."""
    processors = [
        TemperatureProcessor(),
        TopKProcessor(),
        TopPProcessor(),
        MinPProcessor(),
        GumbelNoiseProcessor(),
    ]
    processor_list = ContinuousBatchingLogitsProcessorList(LogitsProcessorList(processors))
    # The list counts one tensor row per processor only for processors it converts itself.
    processor_list.tensors_required = len(processors)
    return processor_list


def processor_kwargs(params: SamplingParams) -> dict[str, Any]:
    """The per-request values the processors read, from SGLang sampling parameters."""
    if params.is_greedy:
        return {}
    seed = params.sampling_seed if params.sampling_seed is not None else random.getrandbits(62)
    return {
        "temperature": float(params.temperature),
        "top_k": max(params.top_k, 0),
        "top_p": float(params.top_p),
        "min_p": float(params.min_p),
        "noise_seed": seed & 0x7FFFFFFFFFFFFFFF,
    }
