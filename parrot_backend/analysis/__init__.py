"""What the backend learns from a program before running it: its dataflow, its critical path,
the objective of each call, its task groups, and the prompt prefixes its calls share.

Pure functions over the wire model and known values; no I/O, so the scheduler's policies can be
tested on hand-built programs and replayed.
"""

from parrot_backend.analysis.dataflow import Dataflow, critical_path, dataflow
from parrot_backend.analysis.objectives import TaskGroup, call_objectives, task_groups
from parrot_backend.analysis.prefixes import PrefixGroup, PrefixTree, prompt_key

__all__ = [
    "Dataflow",
    "PrefixGroup",
    "PrefixTree",
    "TaskGroup",
    "call_objectives",
    "critical_path",
    "dataflow",
    "prompt_key",
    "task_groups",
]
