"""The ``parrot`` command as a user types it."""

import subprocess
import sys


def parrot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parrot_backend", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_engine_command() -> None:
    result = parrot("--help")
    assert result.returncode == 0 and "engine" in result.stdout
    engine_help = parrot("engine", "--help")
    assert engine_help.returncode == 0
    for option in ("--model", "--device", "--dtype", "--port", "--num-blocks", "--block-size"):
        assert option in engine_help.stdout


def test_a_missing_model_is_a_clear_error_not_a_traceback(tmp_path) -> None:
    result = parrot("engine", "--model", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "neither a transformers folder" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_bad_dtype_is_a_clear_error(tiny_model_dir) -> None:
    result = parrot("engine", "--model", str(tiny_model_dir), "--dtype", "int8")
    assert result.returncode == 2
    assert "--dtype" in result.stderr + result.stdout
