"""Engines the backend schedules onto, and the SGLang wire shapes they share."""
