"""Run directories: config, append-only evaluation log, per-tell checkpoints, summary.

Layout of a run directory::

    RUN_DIR/config.json              run config, environment, command line (written once)
    RUN_DIR/seed_<s>/evals.jsonl     one line per finished evaluation, fsynced, append-only
    RUN_DIR/seed_<s>/checkpoint.{0,1}.json  strategy state after the last two tells
    RUN_DIR/seed_<s>/result.json     the seed's curve once it has finished
    RUN_DIR/seed_<s>/wall.json       its wall seconds, summed over the processes that ran it
    RUN_DIR/results.json             all seeds + summary (the --json file has the same content)

Crash safety: an evaluation line is written and fsynced before the strategy is told; the
checkpoint (state after tell number ``step``) goes to one of two alternating slots with a
sha256 of its content (see ``SeedStore.save_checkpoint``). After SIGKILL the log may hold
records of steps after the checkpoint's, and
possibly a torn last line; :func:`read_evals` drops a torn line and the runner re-asks each later
step from the checkpoint (deterministic) and tells the logged records instead of evaluating them
again, so nothing is lost or recorded twice. A missing or torn checkpoint means replaying the
whole log from ``init``.

States are serialised to JSON by :mod:`jaxnas.search.codec` (plain data, no pickle, no class
imported by name). Loading never writes: a torn last line of the log is skipped when read and
cut off (one ``ftruncate``) just before the next append.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

from jaxnas.errors import ConfigError, DataNotFoundError
from jaxnas.files import write_bytes_atomic
from jaxnas.search.base import EvalRecord
from jaxnas.search.codec import decode, encode

# ------------------------------------------------------------------------------ files


def write_json_atomic(path: Path, data: Any, fsync: bool = True) -> None:
    """Write JSON to ``path`` via a temporary file and an atomic rename (fsynced unless
    ``fsync=False``: the rename alone is atomic against a killed process)."""
    text = json.dumps(data, indent=1, sort_keys=False, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode(), fsync)


def read_json(path: Path) -> Any:
    """The JSON in ``path``; a one-line ConfigError when it is unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON ({error})") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None


def read_evals(path: Path) -> list[dict[str, Any]]:
    """Entries of an evals.jsonl file; a torn last line (a kill mid-write) is dropped."""
    return scan_evals(path)[0]


def _line(step: int, pos: int, record: Mapping[str, Any]) -> str:
    """One log line: the entry and a CRC-32 of it, so a damaged line is never read as data."""
    body = json.dumps({"step": step, "pos": pos, "record": record}, sort_keys=True,
                      allow_nan=False)
    return json.dumps({"crc": zlib.crc32(body.encode()), "entry": json.loads(body)},
                      sort_keys=True, allow_nan=False) + "\n"


def _entry(line: bytes) -> dict[str, Any]:
    """The entry of one log line (ValueError when the line is damaged)."""
    data = json.loads(line)
    if not isinstance(data, dict) or set(data) != {"crc", "entry"}:
        raise ValueError("not a log line")
    entry = data["entry"]
    body = json.dumps(entry, sort_keys=True, allow_nan=False)
    if zlib.crc32(body.encode()) != data["crc"]:
        raise ValueError("checksum mismatch")
    return entry


def scan_evals(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(entries, clean size) of an evals.jsonl file. A damaged last line (a kill mid-write)
    is dropped and ``clean size`` is the byte length without it; a damaged line before the
    end is an error (the log cannot be trusted)."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    data = path.read_bytes()
    entries, offset = [], 0
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        end = offset + len(line) + (1 if i < len(lines) - 1 else 0)
        if line.strip():
            try:
                if i == len(lines) - 1:  # no newline yet: torn after the record
                    raise ValueError("no newline")
                entries.append(_entry(line))
            except (ValueError, UnicodeDecodeError):
                if any(x.strip() for x in lines[i + 1:]):
                    raise ConfigError(f"{path}: line {i + 1} is damaged in the middle of the "
                                      f"log; the run cannot be resumed safely") from None
                return entries, offset
        offset = end
    return entries, len(data)


class Checkpoint(NamedTuple):
    """A strategy state after tell number ``step``, when ``queries`` had been spent and the
    seed had run ``elapsed_s`` wall seconds over all its processes (None: not recorded)."""

    step: int
    state: Any
    queries: float
    elapsed_s: float | None = None


class SeedStore:
    """The files of one seed of a run (see module docstring)."""

    def __init__(self, run_dir: Path, seed: int) -> None:
        self.dir = Path(run_dir) / f"seed_{seed}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.evals_path = self.dir / "evals.jsonl"
        self.result_path = self.dir / "result.json"
        self.wall_path = self.dir / "wall.json"
        self._clean_size: int | None = None  # byte length of the log's intact lines

    def load_evals(self) -> list[tuple[int, int, EvalRecord]]:
        """(step, position in the step, record) of every logged evaluation (read only)."""
        entries, self._clean_size = scan_evals(self.evals_path)
        return [(e["step"], e["pos"], EvalRecord.from_json(e["record"])) for e in entries]

    def append_eval(self, step: int, pos: int, record: EvalRecord) -> None:
        """Append one line and fsync it; the first append after :meth:`load_evals` first cuts
        a torn tail off, so the new line starts clean."""
        line = _line(step, pos, record.to_json())
        with open(self.evals_path, "ab") as f:
            if self._clean_size is not None and f.tell() != self._clean_size:
                f.truncate(self._clean_size)
            self._clean_size = None
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())

    def _slot(self, step: int) -> Path:
        return self.dir / f"checkpoint.{step % 2}.json"

    def save_checkpoint(self, step: int, state: Any, extra: Mapping[str, Any] | None = None) -> None:
        """Write the state after tell ``step`` into slot ``step % 2``.

        Two slots overwritten in place (no rename, no fsync: a rename or fsync per tell cost
        ~2-15 ms here). A kill mid-write tears at most the slot being written; its sha256 then
        fails and :meth:`load_checkpoint` takes the other slot (one step older), and the
        fsynced evaluation log replays the rest.
        """
        payload = json.dumps(encode(state), separators=(",", ":"), allow_nan=False)
        header = {"step": int(step), "sha256": hashlib.sha256(payload.encode()).hexdigest(),
                  **dict(extra or {})}
        data = (json.dumps(header, sort_keys=True) + "\n" + payload + "\n").encode()
        fd = os.open(self._slot(step), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def load_checkpoint(self, template: Any) -> Checkpoint | None:
        """The newest intact checkpoint slot, or None; ``template`` is a fresh state of the
        same strategy (:func:`jaxnas.search.codec.decode`)."""
        best: tuple[int, str] | None = None
        for slot in (self.dir / "checkpoint.0.json", self.dir / "checkpoint.1.json"):
            try:
                header_line, payload, *_ = slot.read_text().split("\n")
                header = json.loads(header_line)
            except (OSError, ValueError):
                continue
            if hashlib.sha256(payload.encode()).hexdigest() != header.get("sha256"):
                continue  # torn by a kill mid-write
            if best is None or header["step"] > best[0]:
                best = (int(header["step"]), payload, header.get("queries", 0),
                        header.get("elapsed_s"))
        if best is None:
            return None
        return Checkpoint(best[0], decode(json.loads(best[1]), template), best[2], best[3])

    def save_result(self, result: Mapping[str, Any], wall_s: float | None = None) -> None:
        """The finished seed's result and its wall seconds over every process that ran it
        (kept apart from the result, which must not depend on where a run was interrupted)."""
        write_json_atomic(self.wall_path, {"wall_s": wall_s})
        write_json_atomic(self.result_path, result)

    def load_wall(self) -> float | None:
        """The finished seed's wall seconds (None: unknown, e.g. a run from before they were
        recorded)."""
        try:
            return read_json(self.wall_path).get("wall_s")
        except (ConfigError, AttributeError):
            return None

    def load_result(self, seed: int, budget: int) -> dict[str, Any] | None:
        """The seed's finished result, or None when the run must go on: none yet, or one for
        a smaller query budget (a run extended with more queries continues from its
        checkpoint). A result of another seed or of a larger budget is an error."""
        if not self.result_path.is_file():
            return None
        try:
            result = read_json(self.result_path)
        except ConfigError as error:  # rebuilt exactly from the checkpoint and the log
            print(f"warning: {error}; rebuilding it from the log", file=sys.stderr)
            return None
        if not isinstance(result, dict) or result.get("seed") != seed:
            raise ConfigError(f"{self.result_path} is not the result of seed {seed} (it holds "
                              f"seed {result.get('seed') if isinstance(result, dict) else '?'})")
        stored = result.get("budget", result.get("queries"))
        if stored == budget:
            return result
        if isinstance(stored, (int, float)) and stored < budget:
            return None
        raise ConfigError(f"{self.result_path} holds a {stored}-query result; this run has "
                          f"{budget} queries (fewer queries than a finished run are not a "
                          f"resume: pick a new --run-dir)")


LOCK_FILE = "lock"


@contextlib.contextmanager
def locked_run_dir(run_dir: Path) -> Iterator[Path]:
    """Create (if needed) and exclusively lock ``run_dir`` for this process.

    A second process gets a one-line ConfigError naming the holder's PID. The lock is an
    ``flock`` on ``RUN_DIR/lock``, released by the kernel when the holder dies (a SIGKILLed
    run never blocks its resume). A directory this call created is removed again when the
    block fails before any seed logged an evaluation, so a failed start leaves nothing.
    """
    import fcntl
    import shutil

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--run-dir {run_dir} is a file, not a directory")
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ConfigError(f"cannot write to run directory {run_dir}: "
                          f"{error.strerror or error}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ConfigError(f"{run_dir} is in use by another jaxnas process (PID {holder}); "
                              f"wait for it to finish or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield run_dir
        except BaseException:
            if created and not any(run_dir.glob("seed_*/evals.jsonl")):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
    finally:
        os.close(fd)


def load_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise DataNotFoundError(f"{run_dir} is not a jaxnas run directory (no config.json)")
    return read_json(path)


def iter_results(paths: Iterable[Path]) -> Iterable[dict[str, Any]]:
    """Results files (the --json output or RUN_DIR/results.json) read one by one."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            path = path / "results.json"
        yield read_json(path)
