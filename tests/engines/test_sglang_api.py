"""The SGLang wire models: SGLang's validation rules."""

import pytest
from pydantic import ValidationError

from parrot_backend.engines.sglang_api import FinishReason, GenerateRequest
from parrot_backend.program.sampling import SamplingParams


def test_unknown_sampling_key_names_the_allowed_keys() -> None:
    with pytest.raises(ValidationError) as caught:
        SamplingParams.model_validate({"max_tokens": 8})
    message = str(caught.value)
    assert "max_tokens" in message
    assert "max_new_tokens" in message and "temperature" in message


@pytest.mark.parametrize(
    "params",
    [{"temperature": "0.5"}, {"max_new_tokens": -1}, {"max_new_tokens": 1.5}, {"max_new_tokens": "8"},
     {"top_p": 0}, {"top_k": -2}, {"stop": 3}],
)  # fmt: skip
def test_wrong_types_and_ranges_are_rejected(params: dict) -> None:
    with pytest.raises(ValidationError):
        SamplingParams.model_validate(params)


def test_defaults_and_helpers() -> None:
    params = SamplingParams.model_validate({"stop": ["", "\n"], "temperature": 0})
    assert params.max_new_tokens == 128
    assert params.stop_strings == ["\n"]
    assert params.is_greedy
    assert SamplingParams(top_k=1).is_greedy
    assert not SamplingParams().is_greedy


def test_unknown_top_level_keys_are_ignored_and_batches_detected() -> None:
    request = GenerateRequest.model_validate({"text": ["a", "b"], "model": None, "routing_key": "x"})
    assert request.is_batch
    assert not GenerateRequest.model_validate({"input_ids": [1, 2]}).is_batch
    assert GenerateRequest.model_validate({"input_ids": [[1], [2]]}).is_batch


def test_finish_reason_wire_form() -> None:
    assert FinishReason(type="stop", matched="\n").to_json() == {"type": "stop", "matched": "\n"}
    assert FinishReason(type="length", length=4).to_json() == {"type": "length", "length": 4}
    assert FinishReason(type="stop", matched=0).to_json() == {"type": "stop", "matched": 0}
