"""The ``jaxnas`` command: no re-exec unless it trains, and nothing from the working directory
runs in place of the installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jaxnas.cli import main

SCRIPT = Path(sys.executable).with_name("jaxnas")


def _command() -> list[str]:
    # the installed console script when there is one, else the same entry point via -c
    if SCRIPT.is_file():
        return [str(SCRIPT)]
    return [sys.executable, "-c", "import sys; from jaxnas.cli import main; sys.exit(main())"]


def _execs(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, int]:
    """(the run, how many execve calls it made after the first) under strace."""
    trace = cwd / "trace.txt"
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace),
                           *_command(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAXNAS_COMPILE_CACHE="none"))
    calls = [line for line in trace.read_text().splitlines()
             if "execve(" in line and "= 0" in line]
    return done, len(calls) - 1


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize("args", [["--help"],
                                  ["describe", "egnas", "L10-C64-o0000000000-k3333333333"]])
def test_commands_that_train_nothing_never_restart_the_interpreter(tmp_path, args):
    done, reexecs = _execs(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert reexecs == 0


def test_main_called_from_python_never_restarts(monkeypatch, tmp_path):
    def forbidden(*args, **kwargs):
        raise AssertionError("os.execve called from jaxnas.cli.main([...])")

    monkeypatch.setattr(os, "execve", forbidden)
    assert main(["search", "--space", "nb201", "--strategy", "random", "--queries", "3",
                 "--seeds", "1", "--quiet", "--run-dir", str(tmp_path / "run")]) == 0


@pytest.mark.parametrize("args", [["--help"],
                                  ["search", "--strategy", "random", "--queries", "2",
                                   "--seeds", "1", "--quiet", "--run-dir", "run"]])
def test_a_jaxnas_module_in_the_working_directory_never_runs(tmp_path, args):
    (tmp_path / "jaxnas.py").write_text("print('HIJACKED')\n")
    (tmp_path / "jaxnas").mkdir()
    (tmp_path / "jaxnas" / "__init__.py").write_text("print('HIJACKED')\n")
    (tmp_path / "jaxnas" / "__main__.py").write_text("print('HIJACKED')\n")
    done = subprocess.run([*_command(), *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAXNAS_COMPILE_CACHE="none"))
    assert "HIJACKED" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
