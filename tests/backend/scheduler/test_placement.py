"""Placement as a pure function of engine state."""

import pytest

from parrot_backend.errors import EngineError
from parrot_backend.scheduler.placement import MIN_AFFINITY_CHARS, EngineView, affinity_key, place


def views(*loads, healthy=None):
    return [EngineView(f"e{i}", True if healthy is None else healthy[i], False, load) for i, load in enumerate(loads)]


def test_least_loaded_wins_without_affinity() -> None:
    assert place(views(3, 1, 2), None, {}).engine_id == "e1"


def test_affinity_keeps_a_prefix_home_until_it_is_too_busy() -> None:
    homes = {"k": "e0"}
    assert place(views(3, 0), "k", homes, slack=4) == place(views(3, 0), "k", homes, slack=4)
    assert place(views(3, 0), "k", homes, slack=4).by_affinity
    assert place(views(9, 0), "k", homes, slack=4).engine_id == "e1"


def test_unhealthy_draining_and_failed_engines_are_skipped() -> None:
    engines = views(0, 5, healthy=[False, True])
    assert place(engines, None, {}).engine_id == "e1"
    assert place(views(0, 5), None, {}, exclude=frozenset({"e0"})).engine_id == "e1"
    assert place([EngineView("d", True, True, 0), EngineView("e", True, False, 3)], None, {}).engine_id == "e"
    with pytest.raises(EngineError, match="no healthy engine"):
        place(views(0, healthy=[False]), None, {})


def test_affinity_keys_are_per_tenant_and_need_a_real_prefix() -> None:
    prefix = "p" * MIN_AFFINITY_CHARS
    assert affinity_key("a", prefix) != affinity_key("b", prefix)
    assert affinity_key("a", prefix[:-1]) is None
