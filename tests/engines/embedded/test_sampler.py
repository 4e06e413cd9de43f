"""The per-request sampling processors, on plain tensors."""

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from parrot_backend.engines.embedded.sampler import (  # noqa: E402
    GumbelNoiseProcessor,
    MinPProcessor,
    TopKProcessor,
    TopPProcessor,
    build_processor_list,
    processor_kwargs,
)
from parrot_backend.program.sampling import SamplingParams  # noqa: E402


def rows(processor, kwargs_per_row: list[dict], position: int = 5) -> torch.Tensor:
    requests = [
        SimpleNamespace(state=SimpleNamespace(logit_processor_kwargs=kw, position_offset=position))
        for kw in kwargs_per_row
    ]
    return processor.prepare_tensor_args(requests)


def test_top_k_keeps_k_best_per_row() -> None:
    scores = torch.tensor([[1.0, 4.0, 3.0, 2.0], [1.0, 4.0, 3.0, 2.0]])
    out = TopKProcessor()(scores, rows(TopKProcessor(), [{"top_k": 2}, {"top_k": 0}]))
    assert torch.isinf(out[0]).tolist() == [True, False, False, True]
    assert not torch.isinf(out[1]).any()  # 0 keeps everything


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = TopPProcessor()(probs.log(), rows(TopPProcessor(), [{"top_p": 0.75}]))
    assert torch.isinf(out[0]).tolist() == [False, False, True, True]
    out = TopPProcessor()(probs.log(), rows(TopPProcessor(), [{"top_p": 0.1}]))
    assert torch.isinf(out[0]).tolist() == [False, True, True, True]


def test_min_p_drops_unlikely_tokens() -> None:
    probs = torch.tensor([[0.6, 0.3, 0.08, 0.02]])
    out = MinPProcessor()(probs.log(), rows(MinPProcessor(), [{"min_p": 0.2}]))
    assert torch.isinf(out[0]).tolist() == [False, False, True, True]


def test_gumbel_noise_samples_the_softmax() -> None:
    processor = GumbelNoiseProcessor()
    probs = torch.tensor([0.6, 0.25, 0.1, 0.05])
    draws = 4000
    scores = probs.log().repeat(draws, 1)
    args = rows(processor, [{"noise_seed": seed} for seed in range(draws)])
    counts = torch.bincount(processor(scores, args).argmax(dim=-1), minlength=4).float() / draws
    assert torch.allclose(counts, probs, atol=0.03), counts


def test_gumbel_noise_is_deterministic_per_seed_and_position_and_off_for_greedy() -> None:
    processor = GumbelNoiseProcessor()
    scores = torch.zeros(3, 50)
    args = rows(processor, [{"noise_seed": 7}, {"noise_seed": 7}, {}])
    out = processor(scores, args)
    assert torch.equal(out[0], out[1])
    assert torch.equal(out[2], scores[2])  # no seed: greedy row untouched
    later = processor(scores, rows(processor, [{"noise_seed": 7}], position=6))
    assert not torch.equal(later[0], out[0])


def test_processor_kwargs() -> None:
    assert processor_kwargs(SamplingParams(temperature=0)) == {}
    kwargs = processor_kwargs(SamplingParams(temperature=0.7, top_k=5, sampling_seed=3))
    assert kwargs["temperature"] == 0.7 and kwargs["top_k"] == 5 and kwargs["noise_seed"] == 3
    build_processor_list().check_kwargs(kwargs)  # the library accepts our keys and types
