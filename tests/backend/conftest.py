"""A backend (``parrot serve``) in front of the tiny-model engine server."""

from collections.abc import Iterator

import pytest

from parrot_backend.engines.processes import BackendProcess


@pytest.fixture(scope="session")
def backend(engine_server) -> Iterator[BackendProcess]:
    limits = [
        "--max-calls",
        "40",
        "--max-template-chars",
        "20000",
        "--max-fan-out",
        "16",
        "--max-new-tokens",
        "512",
    ]
    with BackendProcess([engine_server.url], limits) as server:
        yield server
