"""The embedded engine in-process, on the tiny random model: real tokens, compared by id."""

from __future__ import annotations

import asyncio
import random

import pytest

torch = pytest.importorskip("torch")

from parrot_backend.errors import ContextLengthError, InvalidRequestError, RequestsPendingError  # noqa: E402
from parrot_backend.program.sampling import SamplingParams  # noqa: E402
from tests.conftest import BLOCK_SIZE  # noqa: E402

GREEDY = {"temperature": 0.0, "ignore_eos": True}


def prompt(seed: int, length: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(4, 300) for _ in range(length)]


def reference(model, ids: list[int], new_tokens: int) -> list[int]:
    """Greedy ids from plain ``model.generate`` (EOS ignored, as in GREEDY)."""
    out = model.generate(
        torch.tensor([ids]),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        eos_token_id=None,
    )
    return out[0, len(ids) :].tolist()


async def final(engine, ids: list[int], **params):
    last = None
    async for event in engine.generate(ids, SamplingParams(**params)):
        last = event
    assert last is not None and last.finished
    return last


def blocks(tokens: int) -> int:
    """Tokens in the whole blocks of ``tokens`` tokens."""
    return tokens // BLOCK_SIZE * BLOCK_SIZE


async def test_greedy_matches_generate_one_at_a_time(engine, reference_model) -> None:
    for seed, length in [(1, 5), (2, 37), (3, 120)]:
        ids = prompt(seed, length)
        event = await final(engine, ids, max_new_tokens=12, **GREEDY)
        assert event.snapshot.output_ids == reference(reference_model, ids, 12)
        assert event.snapshot.finish_reason.to_json() == {"type": "length", "length": 12}
        assert event.prompt_tokens == length


async def test_greedy_matches_generate_many_at_once(engine, reference_model) -> None:
    prompts = [prompt(100 + i, 10 + 7 * i) for i in range(8)]
    events = await asyncio.gather(*(final(engine, ids, max_new_tokens=10, **GREEDY) for ids in prompts))
    for ids, event in zip(prompts, events, strict=True):
        assert event.snapshot.output_ids == reference(reference_model, ids, 10)


async def test_output_varies_so_greedy_comparisons_mean_something(engine) -> None:
    event = await final(engine, prompt(7, 20), max_new_tokens=16, **GREEDY)
    assert len(set(event.snapshot.output_ids)) > 3


async def test_repeated_prompt_hits_the_prefix_cache(engine) -> None:
    await engine.flush_cache()
    ids = prompt(11, 70)
    first = await final(engine, ids, max_new_tokens=4, **GREEDY)
    second = await final(engine, ids, max_new_tokens=4, **GREEDY)
    assert first.cached_tokens == 0
    # The last prompt token is always computed (its logits give the first new token).
    assert second.cached_tokens >= blocks(len(ids) - 1) > 0
    assert second.snapshot.output_ids == first.snapshot.output_ids


async def test_prompt_extending_a_finished_one_hits(engine) -> None:
    await engine.flush_cache()
    parent = prompt(12, 40)
    done = await final(engine, parent, max_new_tokens=20, **GREEDY)
    child = parent + done.snapshot.output_ids + prompt(13, 9)
    event = await final(engine, child, max_new_tokens=2, **GREEDY)
    # The parent's prompt and all but its last output token are in the cache.
    assert event.cached_tokens >= blocks(len(parent) + 20 - 1)


async def test_prefill_only_request_warms_its_continuation(engine) -> None:
    await engine.flush_cache()
    shared = prompt(14, 50)
    warm = await final(engine, shared, max_new_tokens=0)
    assert warm.snapshot.output_ids == [] and warm.snapshot.text == ""
    assert warm.snapshot.finish_reason.to_json() == {"type": "length", "length": 0}
    event = await final(engine, shared + prompt(15, 6), max_new_tokens=2, **GREEDY)
    assert event.cached_tokens >= blocks(len(shared))


async def test_flush_cache_resets_hits(engine) -> None:
    ids = prompt(16, 60)
    await final(engine, ids, max_new_tokens=2, **GREEDY)
    assert (await final(engine, ids, max_new_tokens=2, **GREEDY)).cached_tokens > 0
    await engine.flush_cache()
    assert (await final(engine, ids, max_new_tokens=2, **GREEDY)).cached_tokens == 0


async def test_cache_namespace_neither_reads_nor_publishes(engine) -> None:
    await engine.flush_cache()
    ids = prompt(17, 64)

    async def run(namespace):
        last = None
        async for event in engine.generate(ids, SamplingParams(max_new_tokens=2, **GREEDY), cache_namespace=namespace):
            last = event
        return last

    assert (await run("tenant-a")).cached_tokens == 0
    assert (await run(None)).cached_tokens == 0  # nothing was published by the namespaced request
    assert (await run("tenant-a")).cached_tokens == 0  # and it does not read shared blocks
    assert (await run(None)).cached_tokens > 0


async def test_stop_token_ids_and_stop_strings(engine, reference_model) -> None:
    ids = prompt(18, 12)
    ref = reference(reference_model, ids, 12)
    stop_token = ref[5]
    cut = ref.index(stop_token)
    event = await final(engine, ids, max_new_tokens=12, stop_token_ids=[stop_token], **GREEDY)
    assert event.snapshot.output_ids == ref[: cut + 1]
    assert event.snapshot.finish_reason.to_json() == {"type": "stop", "matched": stop_token}
    assert event.snapshot.text == engine.decode(ref[:cut])

    full_text = engine.decode(ref)
    stop = full_text[len(full_text) // 2 : len(full_text) // 2 + 3]
    event = await final(engine, ids, max_new_tokens=12, stop=stop, **GREEDY)
    assert event.snapshot.text == full_text[: full_text.index(stop)]
    assert event.snapshot.finish_reason.matched == stop


def test_ignore_eos_drops_only_the_models_eos(engine) -> None:
    eos = next(iter(engine.eos_token_ids))
    assert engine._stop_ids(SamplingParams(stop_token_ids=[5])) == {5, eos}
    assert engine._stop_ids(SamplingParams(stop_token_ids=[5], ignore_eos=True)) == {5}


async def test_seeded_sampling_is_reproducible(engine, reference_model) -> None:
    ids = prompt(19, 30)
    runs = [await final(engine, ids, max_new_tokens=12, temperature=1.0, sampling_seed=s) for s in (1, 1, 2)]
    assert runs[0].snapshot.output_ids == runs[1].snapshot.output_ids
    assert runs[0].snapshot.output_ids != runs[2].snapshot.output_ids
    # top_k=1 is greedy whatever the temperature.
    top1 = await final(engine, ids, max_new_tokens=12, temperature=1.5, top_k=1, ignore_eos=True)
    assert top1.snapshot.output_ids == reference(reference_model, ids, 12)


async def test_seeded_sample_does_not_depend_on_batch_neighbours(engine) -> None:
    ids = prompt(20, 25)
    alone = await final(engine, ids, max_new_tokens=10, temperature=0.8, sampling_seed=5, ignore_eos=True)
    crowd = await asyncio.gather(
        final(engine, ids, max_new_tokens=10, temperature=0.8, sampling_seed=5, ignore_eos=True),
        *(final(engine, prompt(21 + i, 30), max_new_tokens=10, temperature=1.0) for i in range(4)),
    )
    assert crowd[0].snapshot.output_ids == alone.snapshot.output_ids


async def test_abort_ends_a_running_request(engine) -> None:
    events = []

    async def consume():
        async for event in engine.generate(prompt(30, 10), SamplingParams(max_new_tokens=1500, **GREEDY), rid="long"):
            events.append(event)

    task = asyncio.create_task(consume())
    while not events:
        await asyncio.sleep(0.01)
    assert engine.abort("long")
    await asyncio.wait_for(task, timeout=10)
    assert events[-1].snapshot.finish_reason.type == "abort"
    assert len(events[-1].snapshot.output_ids) < 1500
    assert not engine.abort("long")  # gone


async def test_cancelled_consumer_frees_its_slot(engine) -> None:
    async def consume():
        async for _ in engine.generate(prompt(31, 10), SamplingParams(max_new_tokens=1500, **GREEDY)):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for _ in range(100):
        if engine.stats().running == 0:
            break
        await asyncio.sleep(0.05)
    assert engine.stats().running == 0


async def test_flush_is_refused_while_requests_run(engine) -> None:
    started = asyncio.Event()

    async def consume():
        async for _ in engine.generate(prompt(32, 10), SamplingParams(max_new_tokens=300, **GREEDY)):
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    with pytest.raises(RequestsPendingError):
        await engine.flush_cache()
    await task


@pytest.mark.parametrize(
    ("ids", "params", "error", "words"),
    [
        ([], {}, InvalidRequestError, "empty"),
        ([5, 10_000], {}, InvalidRequestError, "vocabulary"),
        ([5] * 5000, {}, ContextLengthError, "longer than"),
        ([5, 6], {"n": 2}, InvalidRequestError, "'n'"),
        ([5, 6], {"json_schema": "{}"}, InvalidRequestError, "json_schema"),
    ],
)
async def test_bad_requests_raise_typed_errors(engine, ids, params, error, words) -> None:
    with pytest.raises(error, match=words):
        await final(engine, ids, **params)
    assert (await final(engine, [5, 6, 7], max_new_tokens=2)).finished  # still serving


async def test_a_reused_rid_is_a_new_request(engine, reference_model) -> None:
    # Clients reuse ids once a request is over; the loop may still hold the old one for a step.
    ids = prompt(40, 15)
    expected = reference(reference_model, ids, 6)
    for _ in range(5):
        last = None
        async for event in engine.generate(ids, SamplingParams(max_new_tokens=6, **GREEDY), rid="same"):
            last = event
        assert last.snapshot.output_ids == expected


async def test_a_running_rid_cannot_be_reused(engine) -> None:
    from parrot_backend.errors import DuplicateRequestError

    started = asyncio.Event()

    async def consume():
        async for _ in engine.generate(prompt(41, 10), SamplingParams(max_new_tokens=800, **GREEDY), rid="busy"):
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    with pytest.raises(DuplicateRequestError):
        await final_with_rid(engine, "busy")
    engine.abort("busy")
    await task


async def final_with_rid(engine, rid: str):
    async for event in engine.generate([5, 6, 7], SamplingParams(max_new_tokens=2), rid=rid):
        if event.finished:
            return event
