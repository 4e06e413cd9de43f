"""``parrot demo`` end to end on SmolLM2: a map-reduce program through the backend, and the baseline."""

import pytest
from rich.console import Console

from parrot_integrations.demo import build_program, run_demo, split_speech

pytestmark = pytest.mark.slow


def test_split_speech_cuts_at_paragraphs() -> None:
    text = "\n".join(f"Paragraph {i} " + "word " * 40 for i in range(20))
    parts = split_speech(text, parts=3, max_chars=500)
    assert len(parts) == 3 and all(0 < len(p) <= 500 for p in parts)
    program = build_program(parts, 8, 16).build()
    assert [c.id for c in program.calls] == ["map0", "map1", "map2", "reduce"]
    assert program.calls[-1].reads() == ["summary0", "summary1", "summary2"]


def test_demo_summarizes_a_speech() -> None:
    console = Console(record=True, width=120)
    result = run_demo(parts=2, part_chars=800, map_tokens=24, reduce_tokens=32, console=console)
    assert len(result.summary.split()) >= 10
    states = {call["id"]: call for call in result.timeline}
    assert all(call["state"] == "done" for call in states.values())
    # The reduce starts only when both maps are done, inside the backend.
    assert states["reduce"]["ready_at"] >= max(states["map0"]["finished_at"], states["map1"]["finished_at"])
    assert result.parrot_seconds > 0 and result.one_by_one_seconds > 0
    shown = console.export_text()
    assert "Summary" in shown and "one by one from the client" in shown
