"""Execution: programs running as dataflow inside the backend."""
