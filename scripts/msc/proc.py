"""Running commands, waiting, progress and errors: one way to do each, for every command and the tests.

- MscError is the root of every error the tooling raises on purpose; its message says what failed and
  what to do. The CLIs catch it and print it; anything else is a bug and shows its traceback.
- run() always has a timeout, raises CommandFailed (with the command and the tail of its output).
- wait_until() polls a predicate with a deadline.
- Steps/run_steps(): numbered progress lines ([i/N] label: result (seconds)) for long builds.
- atomic_dir(): a build into a temporary sibling renamed into place, so nothing half-made looks finished."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")


class MscError(Exception):
    """A step that could not finish; the message says what failed and what to do."""


class CommandFailed(MscError):
    """A command exited non-zero or timed out; .returncode, .stdout and .stderr hold what it said."""

    def __init__(self, message: str, cmd: list[str], returncode: int | None = None, stdout: str = "",
                 stderr: str = "") -> None:
        super().__init__(message)
        self.cmd, self.returncode, self.stdout, self.stderr = cmd, returncode, stdout, stderr


class ToolError(MscError):
    """A pinned tool could not be installed or built (scripts/bootstrap)."""


class BuildError(MscError):
    """An image or one of its inputs could not be built (scripts/images)."""


class ClusterError(MscError):
    """A local cluster could not be brought up, inspected or removed (scripts/cluster)."""


class DockerError(MscError):
    """The Docker engine could not be made ready."""


def logger(prefix: str, stream: Any = None) -> Callable[[str], None]:
    """A print function that prefixes every line with [prefix] (stderr unless told)."""
    def log(msg: str) -> None:
        print(f"[{prefix}] {msg}", file=stream or sys.stderr, flush=True)
    return log


def run(cmd: list[str], what: str = "", *, timeout: float = 300, check: bool = True,
        env: dict[str, str] | None = None, cwd: Path | None = None, input: str | None = None,
        stdin: int | None = None, log_file: Path | None = None, hint: str = "",
        tail: int = 20) -> subprocess.CompletedProcess[str]:
    """Run cmd, capturing its output (into log_file when given: then .stdout holds the log).
    Raises CommandFailed saying `what` failed, the command and the last `tail` lines it printed."""
    what = what or cmd[0]
    shown = " ".join(cmd[:8]) + (" ..." if len(cmd) > 8 else "")
    try:
        if log_file:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(log_file, "w") as out:
                proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                                      env=env, cwd=cwd, stdin=stdin)
            proc.stdout, proc.stderr = log_file.read_text(errors="replace"), ""
        else:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                                  input=input, stdin=stdin)
    except FileNotFoundError as err:
        raise CommandFailed(f"{what}: {cmd[0]} not found{'; ' + hint if hint else ''}", cmd) from err
    except subprocess.TimeoutExpired as err:
        raise CommandFailed(f"{what}: `{shown}` did not finish in {timeout:.0f}s", cmd) from err
    if check and proc.returncode != 0:
        lines = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-tail:])
        where = f" (full log: {log_file})" if log_file else ""
        raise CommandFailed(f"{what}: `{shown}` exited {proc.returncode}{where}\n{lines}", cmd, proc.returncode,
                            proc.stdout, proc.stderr)
    return proc


def output(cmd: list[str], timeout: float = 30) -> str:
    """What a command prints on stdout, or '' when it cannot run (version probes)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.5,
               detail: Callable[[], str] | None = None) -> T:
    """Poll until check() returns something truthy and return it; raise TimeoutError naming `what`, the last
    value seen and, when given, detail() (why it is still not there)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            why = detail() if detail else f"last: {last!r:.500}"
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} ({why})")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """True while the process runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Step:
    label: str
    fn: Callable[[], str]


def run_steps(steps: Iterable[Step], log: Callable[[str], None], retry: str) -> dict[str, float]:
    """Run steps in order with one progress line each ([i/N] label: result (seconds)); returns the seconds per
    step. A failed step is named with the command that resumes; its error goes up to the caller, who prints it."""
    steps = list(steps)
    timings: dict[str, float] = {}
    for i, step in enumerate(steps, 1):
        t0 = time.monotonic()
        try:
            result = step.fn()
        except MscError:
            log(f"[{i}/{len(steps)}] {step.label}: FAILED (finished steps stay cached; fix the cause below, "
                f"then run `{retry}` again)")
            raise
        timings[step.label] = round(time.monotonic() - t0, 1)
        log(f"[{i}/{len(steps)}] {step.label}: {result} ({timings[step.label]:.1f}s)")
    return timings


def atomic_dir(final: Path, build: Callable[[Path], None]) -> None:
    """Build into a temporary sibling, then rename: an interrupted build never looks finished."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
