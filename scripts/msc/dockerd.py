"""A Docker engine for the kind tier on machines without systemd: ensure, stop, status.

Usage (scripts/docker runs this module):
  scripts/docker ensure   # install docker.io if absent, configure, start, wait
  scripts/docker stop     # stop the dockerd that `ensure` started (never another one)
  scripts/docker status

What `ensure` does, idempotently:
1. Reuses an engine that already answers on /var/run/docker.sock (started by anyone).
2. Otherwise installs Debian's docker.io with apt-get when dockerd is missing.
3. Builds the capability-filtering runc wrapper (images/lib/runc-capfilter, Go, static) and
   installs it at /usr/local/lib/ml-serving-charts/runc-capfilter. On VMs whose capability bounding
   set lacks a capability (CAP_SYS_RESOURCE here), `docker run --privileged` fails with
   "unable to apply caps"; the wrapper drops what the kernel would refuse and execs runc.
4. Registers it in /etc/docker/daemon.json as the default runtime (other keys are kept).
5. Starts dockerd in the background (setsid, log /var/log/ml-serving-charts/dockerd.log) and
   records its pid in /run/ml-serving-charts/dockerd.pid: that file means "we started it", and
   only then does `stop` stop it.

Standard library only.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from .env import IMAGES, go_env
from .proc import DockerError, MscError, logger, pid_alive, run, wait_until
from .debian import apt_install

CAPFILTER_SRC = IMAGES / "lib" / "runc-capfilter"
CAPFILTER = Path(os.environ.get("MSC_RUNC_CAPFILTER", "/usr/local/lib/ml-serving-charts/runc-capfilter"))
RUNTIME_NAME = "runc-capfilter"
DAEMON_JSON = Path("/etc/docker/daemon.json")
SOCKET = Path("/var/run/docker.sock")
STATE = Path(os.environ.get("MSC_DOCKERD_STATE", "/run/ml-serving-charts"))
PIDFILE = STATE / "dockerd.pid"
LOG = Path(os.environ.get("MSC_DOCKERD_LOG", "/var/log/ml-serving-charts/dockerd.log"))


log = logger("docker")


def _run(cmd: list[str], what: str, timeout: float = 600, env: dict | None = None,
         cwd: Path | None = None) -> str:
    return run(cmd, what, timeout=timeout, env=env, cwd=cwd, tail=15).stdout


def engine_answers(timeout: float = 10) -> bool:
    if not SOCKET.exists() or not shutil.which("docker"):
        return False
    try:
        proc = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def our_pid() -> int | None:
    """The pid of the dockerd we started, if it is still that dockerd."""
    try:
        pid = int(PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    return pid if pid_alive(pid) and Path(exe).name == "dockerd" else None


def started_by_us() -> bool:
    return our_pid() is not None


# ---------------------------------------------------------------- install and configure

def install_engine() -> None:
    if shutil.which("dockerd"):
        return
    if os.geteuid() != 0:
        raise DockerError("dockerd is not installed and this is not root: `apt-get install -y docker.io` as root")
    log("dockerd missing: apt-get install docker.io (Debian's Docker engine)")
    apt_install(["docker.io"])
    if not shutil.which("dockerd"):
        raise DockerError("docker.io installed but dockerd is still not on PATH")


def _source_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(CAPFILTER_SRC.glob("*")):
        if p.suffix in (".go", ".mod"):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def build_capfilter(dest: Path) -> Path:
    """Build images/lib/runc-capfilter statically into dest (skipped when dest holds this source's build)."""
    stamp = dest.with_name(dest.name + ".sha256")
    digest = _source_digest()
    if dest.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return dest
    if not shutil.which("go"):
        raise DockerError("go is needed to build the runc capability wrapper (images/lib/runc-capfilter)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    env = go_env()
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), "."], "build runc-capfilter",
         env=env, cwd=CAPFILTER_SRC)
    tmp.chmod(0o755)
    tmp.replace(dest)   # atomic: a running container's shim may be exec'ing the old one
    stamp.write_text(digest + "\n")
    return dest


def configure_daemon() -> bool:
    """Register the wrapper as Docker's default runtime; True when daemon.json changed."""
    config: dict = {}
    if DAEMON_JSON.exists():
        try:
            config = json.loads(DAEMON_JSON.read_text() or "{}")
        except json.JSONDecodeError as err:
            raise DockerError(f"{DAEMON_JSON} is not valid JSON ({err}); fix or remove it") from err
    want = dict(config)
    want["runtimes"] = {**config.get("runtimes", {}), RUNTIME_NAME: {"path": str(CAPFILTER)}}
    want["default-runtime"] = RUNTIME_NAME
    if want == config:
        return False
    DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
    tmp = DAEMON_JSON.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(want, indent=2) + "\n")
    tmp.replace(DAEMON_JSON)
    log(f"registered {CAPFILTER} as the default runtime {RUNTIME_NAME!r} in {DAEMON_JSON}")
    return True


# ---------------------------------------------------------------- start, stop, status

def start_daemon(timeout: float = 60) -> int:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    stale = Path("/var/run/docker.pid")
    if stale.exists():
        try:
            alive = pid_alive(int(stale.read_text().strip()))
        except ValueError:
            alive = False
        if not alive:
            stale.unlink()
    with open(LOG, "ab") as out:
        proc = subprocess.Popen([shutil.which("dockerd") or "dockerd"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    PIDFILE.write_text(f"{proc.pid}\n")
    try:
        wait_until(lambda: engine_answers(timeout=5) or proc.poll() is not None, timeout, f"dockerd on {SOCKET}")
    except TimeoutError as err:
        raise DockerError(f"dockerd (pid {proc.pid}) did not answer on {SOCKET} within {timeout:.0f}s; see {LOG}") from err
    if proc.poll() is not None:
        PIDFILE.unlink(missing_ok=True)
        tail = "\n".join(LOG.read_text(errors="replace").splitlines()[-15:])
        raise DockerError(f"dockerd exited with {proc.returncode}; last lines of {LOG}:\n{tail}")
    return proc.pid


def default_runtime() -> str:
    try:
        return _run(["docker", "info", "--format", "{{.DefaultRuntime}}"], "docker info", timeout=30).strip()
    except DockerError:
        return ""


def ensure() -> str:
    """Make an engine answer on the socket; returns 'reused', 'started' or 'restarted'."""
    if engine_answers():
        runtime = default_runtime()
        if runtime == RUNTIME_NAME and os.geteuid() == 0 and shutil.which("go"):
            build_capfilter(CAPFILTER)   # a changed wrapper takes effect at the next container start
        elif runtime != RUNTIME_NAME:
            log(f"reusing a running Docker engine whose default runtime is {runtime!r}, not {RUNTIME_NAME!r}: "
                "`--privileged` may fail on this VM (see images/lib/runc-capfilter)")
        return "reused"
    if os.geteuid() != 0:
        raise DockerError("no Docker engine answers and starting one needs root")
    install_engine()
    build_capfilter(CAPFILTER)
    configure_daemon()
    pid = start_daemon()
    log(f"dockerd started (pid {pid}, log {LOG}, default runtime {default_runtime() or '?'})")
    return "started"


def stop(timeout: float = 30) -> bool:
    """Stop the dockerd that ensure() started; True if one was stopped. Never touches another dockerd."""
    pid = our_pid()
    if pid is None:
        PIDFILE.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)   # dockerd stops its containers' shims and its managed containerd
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not pid_alive(pid), timeout, f"dockerd (pid {pid}) to exit", 0.2)
    if pid_alive(pid):
        log(f"dockerd (pid {pid}) ignored SIGTERM for {timeout:.0f}s; SIGKILL")
        os.kill(pid, signal.SIGKILL)
    PIDFILE.unlink(missing_ok=True)
    log(f"dockerd (pid {pid}) stopped")
    return True


def status() -> int:
    answers = engine_answers()
    pid = our_pid()
    who = f"started by scripts/docker (pid {pid})" if pid else "not started by us"
    print(f"docker engine: {'running' if answers else 'not running'} ({who})")
    if answers:
        print(f"  server version:  {_run(['docker', 'version', '--format', '{{.Server.Version}}'], 'docker version').strip()}")
        print(f"  default runtime: {default_runtime()}")
    print(f"  log: {LOG}   wrapper: {CAPFILTER} ({'present' if CAPFILTER.exists() else 'missing'})")
    return 0 if answers else 1


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("ensure", "stop", "status"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        if argv[0] == "ensure":
            log(f"engine {ensure()}")
            return 0
        if argv[0] == "stop":
            if not stop():
                log("no dockerd started by us is running; nothing stopped")
            return 0
        return status()
    except MscError as err:
        log(f"FAILED: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
