"""Running commands and looking at processes, for every script (standard library only).

run() raises the caller's own error class saying what failed, the command and the tail of its output, so a
failed step reads the same in scripts/cluster, scripts/images and the Docker engine helper."""
from __future__ import annotations

import subprocess
from pathlib import Path


def run(cmd: list[str], what: str, *, error: type[Exception], timeout: float = 300, check: bool = True,
        env: dict | None = None, cwd: Path | None = None, input: str | None = None, stdin: int | None = None,
        log_file: Path | None = None, not_found_hint: str = "", tail: int = 20) -> subprocess.CompletedProcess:
    """Run cmd capturing its output (into log_file when given: then .stdout holds the log, .stderr is empty)."""
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
        raise error(f"{what}: {cmd[0]} not found{'; ' + not_found_hint if not_found_hint else ''}") from err
    except subprocess.TimeoutExpired as err:
        raise error(f"{what}: `{shown}` did not finish in {timeout:.0f}s") from err
    if check and proc.returncode != 0:
        lines = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-tail:])
        where = f" (full log: {log_file})" if log_file else ""
        raise error(f"{what}: `{shown}` exited {proc.returncode}{where}\n{lines}")
    return proc


def pid_alive(pid: int) -> bool:
    """True while the process runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
