"""Debian packages a command needs, installed with apt when missing (root only)."""
from __future__ import annotations

import os

from .proc import ToolError, output, run


def debian_installed(package: str) -> bool:
    return output(["dpkg-query", "-W", "-f=${Status}", package]).endswith("install ok installed")


def apt_install(packages: list[str]) -> str:
    """Install the Debian packages that are missing (root only); '' when none was."""
    missing = [p for p in packages if not debian_installed(p)]
    if not missing:
        return ""
    if os.geteuid() != 0:
        raise ToolError(f"Debian packages {missing} are missing and installing them needs root: "
                        f"run `sudo apt-get install -y {' '.join(missing)}`, then retry")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], "apt-get update", env=env, timeout=600)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        f"apt-get install {' '.join(missing)}", env=env, timeout=1800)
    return " ".join(missing)
