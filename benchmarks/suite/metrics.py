"""Pure functions over what a benchmark run recorded: percentiles, the ideal prefill (the size of
the token trie of every prompt) and an app's dataflow and critical path, inferred from its calls."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def trie_size(prompts: Iterable[Sequence[int]]) -> int:
    """Nodes in the token trie of ``prompts``: the prefill tokens needed if every distinct prefix
    were computed exactly once (the ideal a prefix cache can reach)."""
    root: dict[int, dict] = {}
    nodes = 0
    for prompt in prompts:
        node = root
        for token in prompt:
            child = node.get(token)
            if child is None:
                child = node[token] = {}
                nodes += 1
            node = child
    return nodes


@dataclass(frozen=True)
class Call:
    """One LLM call of an app: the text it was given and the text it produced."""

    prompt: str
    output: str


def dependencies(calls: Sequence[Call], min_chars: int = 16) -> list[set[int]]:
    """For each call, the earlier calls it depends on: those whose output appears in its prompt.

    An output shorter than ``min_chars`` is ignored (it could appear by chance)."""
    parents: list[set[int]] = []
    for i, call in enumerate(calls):
        parents.append(
            {
                j
                for j in range(i)
                if len(calls[j].output.strip()) >= min_chars and calls[j].output.strip() in call.prompt
            }
        )
    return parents


def critical_path(durations: Sequence[float], parents: Sequence[set[int]]) -> tuple[float, list[int]]:
    """The longest chain of dependent calls, by the sum of their durations: its length and its
    calls in order. ``parents[i]`` holds indices smaller than ``i``."""
    best: list[tuple[float, list[int]]] = []
    for i, duration in enumerate(durations):
        before = max((best[j] for j in parents[i]), key=lambda item: item[0], default=(0.0, []))
        best.append((before[0] + duration, [*before[1], i]))
    return max(best, key=lambda item: item[0], default=(0.0, []))
