"""Scheduling policies: pure functions from the state of calls and engines to decisions."""
