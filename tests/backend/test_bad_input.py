"""Malformed programs and requests: each a 4xx that says what to fix; the backend keeps serving."""

from __future__ import annotations

import httpx
import pytest


def call(call_id, output, *refs, text="x", **sampling):
    template = [{"text": text}, *({"var": r} for r in refs)]
    return {
        "id": call_id,
        "template": template,
        "output": output,
        "sampling": {"max_new_tokens": 2, **sampling},
    }


CASES = [
    ("cycle", {"calls": [call("a", "x", "y"), call("b", "y", "x")]}, 422, "cycle"),
    ("self reference", {"calls": [call("a", "x", "x")]}, 422, "its own output"),
    ("dangling variable", {"calls": [call("a", "x", "ghost")]}, 422, "'ghost'"),
    ("duplicate output", {"calls": [call("a", "x"), call("b", "x")]}, 422, "already written"),
    ("duplicate call id", {"calls": [call("a", "x"), call("a", "y")]}, 422, "unique"),
    ("output shadows an input", {"inputs": {"x": "1"}, "calls": [call("a", "x")]}, 422, "also an input"),
    ("unknown sampling key", {"calls": [call("a", "x", max_tokens=4)]}, 422, "allowed keys"),
    ("string temperature", {"calls": [call("a", "x", temperature="hot")]}, 422, "temperature"),
    ("negative max_new_tokens", {"calls": [call("a", "x", max_new_tokens=-1)]}, 422, "max_new_tokens"),
    ("max_new_tokens over the limit", {"calls": [call("a", "x", max_new_tokens=100_000)]}, 422, "limit is 512"),
    ("oversize template", {"calls": [call("a", "x", text="y" * 30_000)]}, 422, "characters"),
    ("too many calls", {"calls": [call(f"c{i}", f"v{i}") for i in range(41)]}, 422, "limit is 40"),
    ("fan-out over the limit", {"inputs": {"d": "1"}, "calls": [call(f"c{i}", f"v{i}", "d") for i in range(17)]},
     422, "fan-out"),
    ("empty program", {"calls": []}, 422, "no calls"),
    ("no calls field", {"inputs": {}}, 422, "calls"),
    ("template and messages", {"calls": [{**call("a", "x"), "messages": [{"role": "user", "content": []}]}]},
     422, "exactly one of template"),
    ("bad variable name", {"calls": [call("a", "x y")]}, 422, "output"),
    ("unknown output to read", {"calls": [call("a", "x")], "outputs": [{"name": "nope"}]}, 422, "'nope'"),
    ("bad objective", {"calls": [call("a", "x")], "outputs": [{"name": "x", "objective": "fast"}]}, 422, "objective"),
    ("input value not text", {"inputs": {"d": 5}, "calls": [call("a", "x", "d")]}, 422, "inputs.d"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_programs(backend, body, status, words) -> None:
    reply = httpx.post(f"{backend.url}/v1/programs", json=body, timeout=30)
    assert reply.status_code == status, reply.text
    assert words in reply.json()["error"]["message"]


def test_malformed_requests(backend) -> None:
    url = backend.url
    not_json = httpx.post(f"{url}/v1/programs", content=b"{calls:", headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and "malformed JSON" in not_json.json()["error"]["message"]
    assert httpx.get(f"{url}/v1/programs/prog-unknown").status_code == 404
    assert httpx.delete(f"{url}/v1/programs/prog-unknown").status_code == 404
    program = httpx.post(f"{url}/v1/programs", json={"calls": [call("a", "x")]}).json()
    missing = httpx.get(f"{url}/v1/programs/{program['id']}/variables/nope")
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]["message"]
    assert httpx.get(f"{url}/v1/programs/{program['id']}/variables/x", params={"timeout": -1}).status_code == 422
    assert httpx.delete(f"{url}/v1/engines/engine-99").status_code == 404
    bad_engine = httpx.post(f"{url}/v1/engines", json={"url": "http://127.0.0.1:9"}, timeout=30)
    assert bad_engine.status_code == 502 and "cannot reach" in bad_engine.json()["error"]["message"]
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    assert httpx.get(f"{url}/v1/programs/{program['id']}/variables/x", timeout=60).status_code == 200
