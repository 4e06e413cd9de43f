"""Turning a growing list of generated token ids into SGLang's text and finish reason.

The generation loop only knows token ids, ``max_new_tokens`` and end-of-sequence ids. Everything
else that decides when a request is over and what text it returns lives here, free of torch and
threads: stop strings and regexes (trimmed unless ``no_stop_trim``), stop token ids, the length
limit, and the streaming rule that text already sent is never taken back (a tail that may still
become a stop string, or half of a multi-byte character, is held until it is settled).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from parrot_backend.engines.sglang_api import FinishReason

Decode = Callable[[Sequence[int]], str]

_REPLACEMENT_CHAR = "\ufffd"


@dataclass(frozen=True)
class Snapshot:
    """The state of one request's output after some tokens: cumulative text and ids."""

    text: str
    output_ids: list[int]
    finish_reason: FinishReason | None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class StopCriteria:
    """What ends a request, besides the end-of-sequence token the generation loop watches."""

    max_new_tokens: int
    stop_token_ids: frozenset[int] = frozenset()
    stop_strings: tuple[str, ...] = ()
    stop_regexes: tuple[str, ...] = ()
    no_stop_trim: bool = False


class OutputTracker:
    """Follows one request's generated ids and says what text to show and whether it is done.

    ``update`` is called with *all* ids generated so far (the loop hands out cumulative lists)
    and returns a :class:`Snapshot`. Once a snapshot is finished, later updates are ignored.
    """

    def __init__(self, criteria: StopCriteria, decode: Decode) -> None:
        self._criteria = criteria
        self._decode = decode
        self._regexes = [re.compile(pattern) for pattern in criteria.stop_regexes]
        self._hold_back = max((len(s) for s in criteria.stop_strings), default=0)
        self._final: Snapshot | None = None
        self._shown = ""

    @property
    def final(self) -> Snapshot | None:
        """The finished snapshot, once there is one."""
        return self._final

    def update(self, generated_ids: Sequence[int]) -> Snapshot:
        """Take the ids generated so far and return the current snapshot."""
        if self._final is not None:
            return self._final
        criteria = self._criteria
        ids = list(generated_ids[: criteria.max_new_tokens])
        finish: FinishReason | None = None
        text_ids = ids
        for position, token in enumerate(ids):
            if token in criteria.stop_token_ids:
                ids = ids[: position + 1]
                finish = FinishReason(type="stop", matched=token)
                # SGLang leaves the matched stop token out of the text unless asked not to.
                text_ids = ids if criteria.no_stop_trim else ids[:-1]
                break
        text = self._decode(text_ids)
        text, string_finish = self._apply_stop_strings(text)
        finish = string_finish or finish
        if finish is None and len(ids) >= criteria.max_new_tokens:
            finish = FinishReason(type="length", length=criteria.max_new_tokens)
        if finish is not None:
            self._final = Snapshot(text=text, output_ids=ids, finish_reason=finish)
            return self._final
        return Snapshot(text=self._settled(text), output_ids=ids, finish_reason=None)

    def abort(self, generated_ids: Sequence[int], message: str) -> Snapshot:
        """Finish the request as aborted, keeping the text generated so far."""
        if self._final is None:
            ids = list(generated_ids[: self._criteria.max_new_tokens])
            text, _ = self._apply_stop_strings(self._decode(ids))
            self._final = Snapshot(text, ids, FinishReason(type="abort", message=message))
        return self._final

    def _apply_stop_strings(self, text: str) -> tuple[str, FinishReason | None]:
        """Cut the text at the earliest stop string or regex match, if any."""
        best: tuple[int, int, str] | None = None  # (start, end, matched)
        for stop in self._criteria.stop_strings:
            start = text.find(stop)
            if start != -1 and (best is None or start < best[0]):
                best = (start, start + len(stop), stop)
        for regex in self._regexes:
            match = regex.search(text)
            if match is not None and (best is None or match.start() < best[0]):
                best = (match.start(), match.end(), match.group(0))
        if best is None:
            return text, None
        start, end, matched = best
        cut = end if self._criteria.no_stop_trim else start
        return text[:cut], FinishReason(type="stop", matched=matched)

    def _settled(self, text: str) -> str:
        """The part of an unfinished text that can be shown without being taken back later."""
        settled = text.rstrip(_REPLACEMENT_CHAR)
        for size in range(min(self._hold_back, len(settled)), 0, -1):
            tail = settled[-size:]
            if any(stop.startswith(tail) for stop in self._criteria.stop_strings):
                settled = settled[:-size]
                break
        # Decoding more tokens can rewrite the end of the text (merged characters); keep the
        # shown text monotonic so streaming clients can slice by length.
        if not settled.startswith(self._shown):
            settled = self._shown
        self._shown = settled
        return settled
