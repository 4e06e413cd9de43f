"""The README's Python snippets run as written, against a backend and the tiny-model engine."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_client_quick_start(backend, monkeypatch, capsys) -> None:
    blocks = python_blocks()
    assert blocks, "the README has a Python quick start"
    monkeypatch.setenv("PARROT_BASE_URL", backend.url)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert "'state': 'done'" in printed  # the timeline of a finished program
