"""Running ``parrot engine`` as a child process, for examples, tests and benchmarks.

:class:`EngineProcess` starts the engine on a free loopback port, waits until ``/health`` answers
200, and stops the process it started (by its PID) on exit.
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


class EngineProcess:
    """``parrot engine`` in a child process bound to 127.0.0.1.

    >>> with EngineProcess(["--model", "path/to/model"]) as engine:  # doctest: +SKIP
    ...     httpx.post(f"{engine.url}/generate", json={"text": "Hi"})
    """

    def __init__(self, args: list[str] | None = None, *, startup_timeout: float = 300.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = list(args or [])
        self._timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="parrot-engine-", suffix=".log", delete=False)

    @property
    def log_path(self) -> Path:
        """The child's combined output."""
        return Path(self._log.name)

    def start(self) -> EngineProcess:
        command = [sys.executable, "-m", "parrot_backend", "engine", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), *self._args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        """Block until ``/health`` answers 200; raise with the child's log if it dies or times out."""
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the engine exited with {self._process.returncode}:\n{self.tail_log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"the engine did not become healthy in {self._timeout:.0f} s:\n{self.tail_log()}")

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

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
