"""Stop rules and streaming text, on a fake one-character-per-token decoder."""

from collections.abc import Sequence

from parrot_backend.engines.embedded.stopping import OutputTracker, StopCriteria

ALPHABET = "abcdefghijklmnopqrstuvwxyz .\n"


def decode(ids: Sequence[int]) -> str:
    return "".join(ALPHABET[i] for i in ids)


def ids_of(text: str) -> list[int]:
    return [ALPHABET.index(c) for c in text]


def run(criteria: StopCriteria, text: str) -> list:
    tracker = OutputTracker(criteria, decode)
    ids = ids_of(text)
    snapshots = []
    for n in range(1, len(ids) + 1):
        snapshots.append(tracker.update(ids[:n]))
        if snapshots[-1].finished:
            break
    return snapshots


def test_length_limit() -> None:
    snapshots = run(StopCriteria(max_new_tokens=3), "hello world")
    assert snapshots[-1].text == "hel"
    assert snapshots[-1].finish_reason.to_json() == {"type": "length", "length": 3}


def test_zero_new_tokens_finishes_with_nothing() -> None:
    tracker = OutputTracker(StopCriteria(max_new_tokens=0), decode)
    snapshot = tracker.update(ids_of("x"))
    assert snapshot.finished and snapshot.output_ids == [] and snapshot.text == ""


def test_stop_string_is_trimmed_and_never_shown_early() -> None:
    snapshots = run(StopCriteria(max_new_tokens=50, stop_strings=("lo w",)), "hello world again")
    final = snapshots[-1]
    assert final.text == "hel"
    assert final.finish_reason.to_json() == {"type": "stop", "matched": "lo w"}
    # Streaming never shows text that is later taken back.
    for snapshot in snapshots:
        assert final.text.startswith(snapshot.text)


def test_no_stop_trim_keeps_the_stop_string() -> None:
    snapshots = run(StopCriteria(max_new_tokens=50, stop_strings=("lo",), no_stop_trim=True), "hello")
    assert snapshots[-1].text == "hello"[:5]


def test_earliest_of_several_stops_wins() -> None:
    criteria = StopCriteria(max_new_tokens=50, stop_strings=("world", "o"), stop_regexes=(r"l+",))
    assert run(criteria, "hello world")[-1].text == "he"


def test_stop_token_is_kept_in_ids_but_not_text() -> None:
    stop = ALPHABET.index(".")
    snapshots = run(StopCriteria(max_new_tokens=50, stop_token_ids=frozenset({stop})), "ab.cd")
    final = snapshots[-1]
    assert final.output_ids == ids_of("ab.")
    assert final.text == "ab"
    assert final.finish_reason.to_json() == {"type": "stop", "matched": stop}


def test_text_is_cumulative_while_streaming() -> None:
    snapshots = run(StopCriteria(max_new_tokens=50), "streaming text")
    for before, after in zip(snapshots, snapshots[1:], strict=False):
        assert after.text.startswith(before.text)


def test_abort_keeps_what_was_generated() -> None:
    tracker = OutputTracker(StopCriteria(max_new_tokens=50), decode)
    tracker.update(ids_of("ab"))
    final = tracker.abort(ids_of("abc"), "aborted by request")
    assert final.text == "abc" and final.finish_reason.type == "abort"
    assert tracker.update(ids_of("abcdef")) is final  # nothing changes after the end
