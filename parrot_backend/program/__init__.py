"""Programs of semantic variables: the wire model shared by the client and the backend."""

from parrot_backend.program.model import Call, Message, Objective, Output, Program, Ref, Segment, Text
from parrot_backend.program.render import render_messages, render_template
from parrot_backend.program.sampling import SamplingParams
from parrot_backend.program.validate import Limits, topological_order, validate_program

__all__ = [
    "Call", "Limits", "Message", "Objective", "Output", "Program", "Ref", "SamplingParams", "Segment", "Text",
    "render_messages", "render_template", "topological_order", "validate_program",
]  # fmt: skip
