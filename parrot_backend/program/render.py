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


def static_prefix(call: Call) -> str:
    """The literal text a call's prompt starts with, before its first variable.

    For a chat call, the roles and literal contents of its messages up to the first variable
    (the rendered chat template starts the same way for calls that share them).
    """
    prefix: list[str] = []
    pieces = (
        [(None, call.template)] if call.template is not None else [(m.role, m.content) for m in call.messages or ()]
    )
    for role, template in pieces:
        if role is not None:
            prefix.append(f"<{role}>")
        for segment in template or ():
            if isinstance(segment, Ref):
                return "".join(prefix)
            prefix.append(segment.text)
    return "".join(prefix)
