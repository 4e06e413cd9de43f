"""Engines and routers as child processes, for examples, tests and benchmarks.

:class:`EngineProcess` runs ``parrot engine`` and :class:`RouterProcess` runs ``sglang-router``,
each on a free loopback port. Both wait until ``/health`` answers 200 and stop the process they
started (by its PID) on exit.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A server in a child process bound to 127.0.0.1 on a free port."""

    name = "server"

    def __init__(self, *, startup_timeout: float = 300.0, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.env = dict(env or {})
        self.url = f"http://127.0.0.1:{self.port}"
        self._timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        # Kept open for the child's whole life; closed in stop().
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix=f"parrot-{self.name}-", suffix=".log", delete=False
        )

    def command(self) -> list[str]:
        """The command line that starts the server on ``self.port``."""
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        """The child's combined output."""
        return Path(self._log.name)

    def start(self) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self._process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        """Block until ``/health`` answers 200; raise with the child's log if it dies or times out."""
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the {self.name} exited with {self._process.returncode}:\n{self.tail_log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"the {self.name} did not become healthy in {self._timeout:.0f} s:\n{self.tail_log()}")

    def tail_log(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class EngineProcess(ServerProcess):
    """``parrot engine`` with the given arguments.

    >>> with EngineProcess(["--model", "path/to/model"]) as engine:  # doctest: +SKIP
    ...     httpx.post(f"{engine.url}/generate", json={"text": "Hi"})
    """

    name = "engine"

    def __init__(
        self, args: list[str] | None = None, *, startup_timeout: float = 300.0, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(startup_timeout=startup_timeout, env=env)
        self.args = list(args or [])

    def command(self) -> list[str]:
        base = [
            sys.executable,
            "-m",
            "parrot_backend",
            "engine",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        return base + self.args


class RouterProcess(ServerProcess):
    """``sglang-router`` (package ``sglang-router``) in front of the given workers."""

    name = "router"

    def __init__(self, worker_urls: list[str], policy: str = "cache_aware", *, startup_timeout: float = 120.0) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.worker_urls = list(worker_urls)
        self.policy = policy
        self.prometheus_port = free_port()

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "sglang_router.launch_router",
            "--worker-urls", *self.worker_urls,
            "--policy", self.policy,
            "--host", "127.0.0.1", "--port", str(self.port),
            # The router binds its metrics on every interface unless told otherwise.
            "--prometheus-host", "127.0.0.1", "--prometheus-port", str(self.prometheus_port),
        ]  # fmt: skip


class BackendProcess(ServerProcess):
    """``parrot serve`` in front of the given engines."""

    name = "backend"

    def __init__(self, engine_urls: list[str], args: list[str] | None = None, *, startup_timeout: float = 60.0) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.engine_urls = list(engine_urls)
        self.args = list(args or [])

    def command(self) -> list[str]:
        engines = [arg for url in self.engine_urls for arg in ("--engine", url)]
        base = [
            sys.executable,
            "-m",
            "parrot_backend",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        return base + engines + self.args
