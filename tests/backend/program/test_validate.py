"""Program validation: each broken program names its call and field."""

import pytest

from parrot_backend.errors import ProgramError
from parrot_backend.program import Limits, Program, validate_program


def program(calls, inputs=None, outputs=None) -> Program:
    return Program.model_validate({"inputs": inputs or {}, "calls": calls, "outputs": outputs or []})


def call(call_id, output, *refs, text="x", **sampling):
    template = [{"text": text}, *({"var": r} for r in refs)]
    return {"id": call_id, "template": template, "output": output, "sampling": sampling}


def test_a_valid_program_comes_back_in_topological_order() -> None:
    prog = program([call("c", "z", "y"), call("b", "y", "x"), call("a", "x", "doc")], inputs={"doc": "d"})
    assert validate_program(prog, Limits()) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("prog", "words"),
    [
        (lambda: program([]), "no calls"),
        (lambda: program([call("a", "x", "y"), call("b", "y", "x")]), "cycle"),
        (lambda: program([call("a", "x", "x")]), "its own output"),
        (lambda: program([call("a", "x", "nothing")]), "'nothing'"),
        (lambda: program([call("a", "x"), call("b", "x")]), "already written by call 'a'"),
        (lambda: program([call("a", "x"), call("a", "y")]), "ids must be unique"),
        (lambda: program([call("a", "doc")], inputs={"doc": "d"}), "also an input"),
        (lambda: program([call("a", "x")], outputs=[{"name": "nope"}]), "outputs: 'nope'"),
        (lambda: program([call("a", "x", max_new_tokens=10_000)]), "max_new_tokens"),
        (lambda: program([call(f"c{i}", f"v{i}") for i in range(6)]), "limit is 5"),
        (lambda: program([call("a", "x", text="y" * 200)]), "characters"),
        (lambda: program([call(f"c{i}", f"v{i}", "doc") for i in range(4)], inputs={"doc": "d"}), "fan-out"),
    ],
)
def test_invalid_programs(prog, words) -> None:
    limits = Limits(max_calls=5, max_template_chars=100, max_fan_out=3, max_new_tokens=512)
    with pytest.raises(ProgramError, match=words):
        validate_program(prog(), limits)


def test_wire_form_is_strict() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of template"):
        Program.model_validate({"calls": [{"id": "a", "output": "x"}]})
    with pytest.raises(ValidationError):
        Program.model_validate({"calls": [call("a", "x", temperature="hot")]})
    with pytest.raises(ValidationError, match="allowed keys"):
        Program.model_validate({"calls": [call("a", "x", max_tokens=3)]})
    with pytest.raises(ValidationError):
        Program.model_validate({"calls": [call("bad name!", "x")]})
