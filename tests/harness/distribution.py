"""Distribution as users meet it: a throwaway signing key, the packaged and signed repository, an HTTP
server for its index on loopback, and a local OCI registry (Debian's docker-registry)."""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from msc.kube import helm_env
from msc.proc import wait_until

from .loopback import QuietHandler, free_port, serve_http
from .paths import HELMS, ROOT, tool_env

KEY_NAME = "ml-serving-charts test signing key"


@dataclass(frozen=True)
class SigningKey:
    name: str
    secring: Path  # legacy secret keyring: what `helm package --sign` reads
    pubring: Path  # public keyring: what `helm verify` / `--verify` read


def make_signing_key(home: Path) -> SigningKey:
    """A passphrase-less RSA key in its own GNUPGHOME, exported as the legacy keyrings Helm reads."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{KEY_NAME} <test@example.invalid>",
                    "rsa2048", "sign", "never"], env=env, check=True, capture_output=True)
    secring, pubring = home / "secring.gpg", home / "pubring.gpg"
    secring.write_bytes(subprocess.run(["gpg", "--batch", "--export-secret-keys"], env=env, check=True, capture_output=True).stdout)
    pubring.write_bytes(subprocess.run(["gpg", "--batch", "--export"], env=env, check=True, capture_output=True).stdout)
    return SigningKey(KEY_NAME, secring, pubring)


def package_repository(out: Path, key: SigningKey, url: str = "") -> Path:
    """Run scripts/package exactly as a maintainer would; returns the repository folder."""
    cmd = [str(ROOT / "scripts" / "package"), "--out", str(out), "--sign", key.name, "--keyring", str(key.secring)]
    if url:
        cmd += ["--url", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=tool_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve a folder over HTTP on 127.0.0.1; yields the base URL."""
    with serve_http(functools.partial(_QuietFileHandler, directory=str(directory))) as url:
        yield url


class _QuietFileHandler(QuietHandler, http.server.SimpleHTTPRequestHandler):
    pass


@contextlib.contextmanager
def oci_registry(workdir: Path) -> Iterator[str]:
    """Debian's docker-registry (distribution v2) on a loopback port, storage in workdir; yields host:port."""
    port = free_port()
    config = workdir / "registry.yml"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text(f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {workdir / 'data'}}}}}\n"
                      f"http: {{addr: 127.0.0.1:{port}}}\n")
    log = (workdir / "registry.log").open("w")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        def listening() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
            return proc.poll() is not None   # exited: stop waiting, fail below
        try:
            wait_until(listening, 20, "docker-registry to listen", interval=0.1)
        except TimeoutError:
            pass
        if proc.poll() is not None or not listening():
            raise RuntimeError(f"docker-registry did not start: {(workdir / 'registry.log').read_text()}")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def helm_run(helm: str, args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELMS[helm]), *args], capture_output=True, text=True, env=helm_env(home))
