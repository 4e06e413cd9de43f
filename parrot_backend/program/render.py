"""Filling a call's template with variable values."""

from __future__ import annotations

from collections.abc import Mapping

from parrot_backend.program.model import Call, Ref, Template


def render_template(template: Template, values: Mapping[str, str]) -> str:
    """The template's text with each reference replaced by its variable's value."""
    return "".join(values[s.var] if isinstance(s, Ref) else s.text for s in template)


def render_messages(call: Call, values: Mapping[str, str]) -> list[dict[str, str]]:
    """A chat call's messages, rendered, as chat templates expect them."""
    return [{"role": m.role, "content": render_template(m.content, values)} for m in call.messages or ()]
