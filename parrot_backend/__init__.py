"""Parrot's serving side: programs of semantic variables scheduled onto LLM engines.

Importing this package never imports torch; only :mod:`parrot_backend.engines.embedded`
does, and only when it is used.
"""

__version__ = "0.1.0"
