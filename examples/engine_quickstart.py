"""Quickstart: start the embedded engine and talk to it the way SGLang clients do.

    .venv/bin/python examples/engine_quickstart.py                 # starts `parrot engine` (SmolLM2)
    .venv/bin/python examples/engine_quickstart.py --url http://127.0.0.1:30000   # an engine you run

It shows a chat completion (OpenAI route), a streamed ``/generate``, and the prefix cache at
work: two questions under one long system prompt, and a prefill-only request that warms a prefix
before the questions arrive (what Parrot's scheduler does before a fan-out).
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx
from rich.console import Console
from rich.table import Table

from parrot_backend.engines.processes import EngineProcess

console = Console()

SYSTEM = (
    "You are a helpful assistant for a public library. The library opens at 9 am and closes at "
    "8 pm on weekdays, 10 am to 4 pm on Saturdays, and is closed on Sundays. Members may borrow up "
    "to ten books for three weeks and renew them twice online. Late returns cost ten cents a day. "
    "The reading room on the second floor is silent; group study rooms can be booked at the desk. "
    "Answer in one short sentence."
)
QUESTIONS = ["How many books can I borrow?", "When does the library open on Saturday?"]


def chat(client: httpx.Client, question: str, max_tokens: int) -> dict:
    reply = client.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            "max_tokens": max_tokens,
            "temperature": 0,
        },
    )
    reply.raise_for_status()
    return reply.json()


def stream_generate(client: httpx.Client, text: str, max_new_tokens: int) -> str:
    body = {
        "text": text,
        "stream": True,
        "sampling_params": {"max_new_tokens": max_new_tokens, "temperature": 0},
    }
    shown = ""
    with client.stream("POST", "/generate", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            text_so_far = json.loads(line.removeprefix("data: "))["text"]
            console.print(text_so_far[len(shown) :], end="", style="green")  # events are cumulative
            shown = text_so_far
    console.print()
    return shown


def run(url: str, max_tokens: int) -> dict:
    results: dict = {}
    with httpx.Client(base_url=url, timeout=300) as client:
        info = client.get("/server_info").json()
        console.rule(f"[bold]{info['served_model_name']}[/] on {info['device']} ({info['dtype']})")

        console.print("[bold]1. Chat completion[/] (POST /v1/chat/completions)")
        first = chat(client, QUESTIONS[0], max_tokens)
        console.print(f"  Q: {QUESTIONS[0]}\n  A: {first['choices'][0]['message']['content'].strip()}")

        console.print("\n[bold]2. Streaming[/] (POST /generate, stream=true): ", end="")
        results["streamed"] = stream_generate(client, "The three most useful things in a library are", max_tokens)

        console.print("\n[bold]3. Prefix cache[/]: the same system prompt, another question")
        second = chat(client, QUESTIONS[1], max_tokens)
        console.print(f"  Q: {QUESTIONS[1]}\n  A: {second['choices'][0]['message']['content'].strip()}")

        client.post("/flush_cache").raise_for_status()
        warm = client.post("/generate", json={"text": SYSTEM, "sampling_params": {"max_new_tokens": 0}}).json()
        after_warm = client.post(
            "/generate",
            json={
                "text": SYSTEM + " Question: Is there a silent room?",
                "sampling_params": {"max_new_tokens": 8},
            },
        ).json()

        table = Table(title="Prompt tokens served from the prefix cache")
        for column in ("request", "prompt tokens", "cached tokens"):
            table.add_column(column)
        rows = [
            (
                "chat, first question",
                first["usage"]["prompt_tokens"],
                first["usage"]["prompt_tokens_details"]["cached_tokens"],
            ),
            (
                "chat, second question",
                second["usage"]["prompt_tokens"],
                second["usage"]["prompt_tokens_details"]["cached_tokens"],
            ),
            (
                "prefill-only warm-up (after /flush_cache)",
                warm["meta_info"]["prompt_tokens"],
                warm["meta_info"]["cached_tokens"],
            ),
            (
                "question after the warm-up",
                after_warm["meta_info"]["prompt_tokens"],
                after_warm["meta_info"]["cached_tokens"],
            ),
        ]
        for name, prompt, cached in rows:
            table.add_row(name, str(prompt), str(cached))
        console.print(table)
        results.update(first=first, second=second, warm=warm, after_warm=after_warm)
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an engine that is already running (default: start one)")
    parser.add_argument("--model", help="model for the engine started here (default SmolLM2-135M-Instruct)")
    parser.add_argument("--max-tokens", type=int, default=40)
    args = parser.parse_args(argv)
    if args.url:
        return run(args.url, args.max_tokens)
    engine_args = ["--model", args.model] if args.model else []
    with console.status("Starting `parrot engine` (the first run converts the model, ~30 s)..."):
        engine = EngineProcess(engine_args).start()
    try:
        return run(engine.url, args.max_tokens)
    finally:
        engine.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
