"""Go-module builds, the two ways this project uses (both need only the Go module proxy):

- wrapper: a one-line module that requires exactly module@version and builds its package. `go install M@V`
  would ask the proxy for M's version list, which it refuses for some modules; the wrapper resolves the
  same dependency versions.
- copy: build inside a writable copy of the module itself, so its own replace and exclude directives apply
  (a wrapper ignores them: only the main module's count)."""
from __future__ import annotations

import functools
import json
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .env import CACHE, go_env
from .proc import ToolError, atomic_dir, run


@functools.cache
def _download(module: str, version: str) -> dict:
    out = run(["go", "mod", "download", "-json", f"{module}@{version}"], f"download Go module {module}@{version}",
              env=go_env(), timeout=1800).stdout
    info = json.loads(out[out.index("{"):])
    if "Dir" not in info:
        raise ToolError(f"download Go module {module}@{version}: {info.get('Error', out)}")
    return info


def module_dir(module: str, version: str) -> Path:
    """The read-only module cache directory of module@version (downloaded when missing)."""
    return Path(_download(module, version)["Dir"])


def module_info(module: str, version: str) -> dict:
    """The proxy's .info record of module@version: Version, Time and, where recorded, Origin (VCS hash)."""
    return json.loads(Path(_download(module, version)["Info"]).read_text())


def writable_copy(src: Path, work: Path, dropreplace: list[str] = ()) -> Path:
    """A writable copy of a module (or any source tree) at `work`, made once; replaces that point at nested
    modules a module zip leaves out can be dropped (they are then required at the same tag from the proxy)."""
    if (work / "go.mod").exists():
        return work

    def copy(tmp: Path) -> None:
        shutil.copytree(src, tmp, symlinks=True, dirs_exist_ok=True)
        for p in [tmp, *tmp.rglob("*")]:
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o200)
        if dropreplace:
            edit(tmp, *(f"-dropreplace={r}" for r in dropreplace))
    atomic_dir(work, copy)
    return work


def edit(module: Path, *edits: str) -> None:
    """`go mod edit` in a (writable) module: -replace, -dropreplace, -godebug, ..."""
    run(["go", "mod", "edit", *edits], f"go mod edit {module.name}", cwd=module, env=go_env())


def wrapper_module(name: str, requires: str, version: str) -> Path:
    """A module local/<name>wrapper requiring requires@version, in the cache (reused)."""
    work = CACHE / "src" / f"{name}-wrapper-{version}"
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "go.mod").exists():
        run(["go", "mod", "init", f"local/{name.replace('-', '')}wrapper"], f"init {name} wrapper module", cwd=work,
            env=go_env())
    run(["go", "get", f"{requires}@{version}"], f"go get {requires}@{version}", cwd=work, env=go_env(), timeout=1800)
    return work


def build(work: Path, packages: list[str], out: Path, *, ldflags: str = "", tags: str = "", what: str = "",
          env: dict[str, str] | None = None, log_file: Path | None = None, timeout: float = 3600,
          progress: Callable[[str], None] | None = None) -> None:
    """`go build -trimpath -ldflags "-s -w ..." -o out packages` in work (out: an existing directory gets
    one binary per package, any other path is the binary of the one package). With progress and log_file,
    a line every minute says how many packages are compiled so far (`go build -v` names each in the log)."""
    what = what or f"go build {' '.join(packages)}"
    cmd = ["go", "build", "-trimpath", *(["-v"] if progress and log_file else []), *(["-tags", tags] if tags else []),
           "-ldflags", f"-s -w {ldflags}".strip(), "-o", str(out) + ("/" if out.is_dir() else ""), *packages]
    with _progress(log_file if progress else None, what, progress):
        run(cmd, what, cwd=work, env=env or go_env(), timeout=timeout, log_file=log_file)


@contextmanager
def _progress(log_file: Path | None, what: str, say: Callable[[str], None] | None,
              every: float = 60) -> Iterator[None]:
    """While the block runs, say() every `every` seconds how many packages `go build -v` has named in log_file."""
    if log_file is None or say is None:
        yield
        return
    stop, start = threading.Event(), time.monotonic()

    def tick() -> None:
        while not stop.wait(every):
            lines = log_file.read_text(errors="replace").splitlines() if log_file.exists() else []
            done = sum(1 for line in lines if line and not line.startswith(("go: ", "#", " ")))
            say(f"  {what}: {done} packages compiled in {time.monotonic() - start:.0f}s (log: {log_file})")
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
