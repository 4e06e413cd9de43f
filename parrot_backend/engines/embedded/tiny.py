"""A tiny random-weight Llama with a locally trained tokenizer, for tests and benchmarks.

Built in seconds with no download. Its text is junk, so tests compare token ids. It has a
ChatML chat template, so the chat routes work with it too. :func:`build_random_llama` builds
the larger random models of the GPU benchmarks from the same tokenizer recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Parrot serves LLM applications as programs of semantic variables.",
    "A semantic variable is a named text slot filled by one call and read by others.",
    "Map steps run together; the reduce step waits for all of them.",
    "Shared prompt prefixes are computed once and reused from the cache.",
    "State of the Union: the economy, the budget, the people and the future.",
]
_SPECIAL_TOKENS = ["<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>"]
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(path: Path, vocab_size: int = 512) -> Any:
    """Train a byte-level BPE tokenizer on a few lines and save it to ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_CORPUS * 20, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|eos|>",
    )
    fast.chat_template = _CHAT_TEMPLATE
    fast.save_pretrained(path)
    return fast


def build_random_llama(
    path: str | Path,
    *,
    hidden_size: int = 64,
    intermediate_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 2,
    num_kv_heads: int = 1,
    max_positions: int = 4096,
    seed: int = 0,
    initializer_range: float = 0.5,
) -> Path:
    """Save a random-weight Llama and its tokenizer to ``path`` and return the folder."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(path)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        head_dim=hidden_size // num_heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # Wide weights make the logits of a random model peaked, so greedy decoding varies
        # from token to token and has no near-ties that batching noise could flip.
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model.save_pretrained(path)
    return path


def build_tiny_llama(path: str | Path) -> Path:
    """The 2-layer, hidden-64 test model (about 400 KB)."""
    return build_random_llama(path)
