"""The benchmark's pure measures: percentiles, the ideal prefill and the critical path."""

from __future__ import annotations

import math

import pytest

from benchmarks.suite.metrics import Call, critical_path, dependencies, percentile, trie_size


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(percentile([], 50))


def test_trie_size_counts_each_distinct_prefix_once() -> None:
    assert trie_size([]) == 0
    assert trie_size([[1, 2, 3]]) == 3
    assert trie_size([[1, 2, 3], [1, 2, 3]]) == 3  # the same prompt twice is computed once
    assert trie_size([[1, 2, 3], [1, 2, 4], [1, 5]]) == 5  # 1,2 shared; 3, 4 and 5 own
    assert trie_size([[1, 2], [1, 2, 3, 4]]) == 4  # a prompt that extends another


def test_dependencies_follow_outputs_into_prompts() -> None:
    spec = "a specification that is long enough"
    calls = [
        Call("write a spec", spec),
        Call(f"module one from {spec}", "module one code, long enough to count"),
        Call(f"module two from {spec}", "module two code, long enough to count"),
        Call("merge module one code, long enough to count and module two code, long enough to count", "done"),
        Call("unrelated", "ok"),
    ]
    assert dependencies(calls) == [set(), {0}, {0}, {1, 2}, set()]
    # Short outputs ("ok", "done") are ignored: they could appear in a prompt by chance.
    assert dependencies([Call("x", "ok"), Call("ok then", "y")]) == [set(), set()]


def test_critical_path_is_the_longest_dependent_chain() -> None:
    parents = [set(), {0}, {0}, {1, 2}, set()]
    seconds, path = critical_path([1.0, 2.0, 5.0, 1.0, 7.5], parents)
    assert (seconds, path) == (7.5, [4])  # the independent call is the longest
    seconds, path = critical_path([1.0, 2.0, 5.0, 1.0, 0.5], parents)
    assert (seconds, path) == (7.0, [0, 2, 3])
    assert critical_path([], []) == (0.0, [])
