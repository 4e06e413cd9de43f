"""Fallback placement as a pure function of engine state."""

import pytest

from parrot_backend.errors import EngineError
from parrot_backend.scheduler.placement import EngineView, least_loaded


def views(*loads, healthy=None):
    return [EngineView(f"e{i}", True if healthy is None else healthy[i], False, load) for i, load in enumerate(loads)]


def test_least_loaded_wins() -> None:
    assert least_loaded(views(3, 1, 2)) == "e1"
    assert least_loaded(views(1, 1)) == "e0"  # ties by id: deterministic


def test_unhealthy_draining_and_failed_engines_are_skipped() -> None:
    assert least_loaded(views(0, 5, healthy=[False, True])) == "e1"
    assert least_loaded(views(0, 5), exclude=frozenset({"e0"})) == "e1"
    assert least_loaded([EngineView("d", True, True, 0), EngineView("e", True, False, 3)]) == "e"
    with pytest.raises(EngineError, match="no healthy engine"):
        least_loaded(views(0, healthy=[False]))
