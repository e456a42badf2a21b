#!/usr/bin/env python3
"""Assemble a shell-less ("distroless") root filesystem from a Debian tree, inside an image build.

Runs in the builder stage of images/models/base/Dockerfile.{python,venv} (the debootstrap'ed
`python` rootfs of scripts/images), as root, and writes a tree that a `FROM scratch` or
`FROM <python base>` stage copies with `COPY --from=build /out/ /`.

  mkroot.py python OUT       /usr/bin/python3.11, its standard library and every shared library they
                             load (found with ldd), Debian's CA bundle, /etc/passwd and /etc/group with
                             the nonroot user 65532 (./passwd, ./group), /tmp (1777) and the merged-/usr links
  mkroot.py venv VENV OUT    the virtual environment VENV (without pip and test suites) and the shared
                             libraries its extension modules need that the python tree lacks

No shell, package manager or coreutils end up in OUT: the images run Python directly (exec-form
ENTRYPOINT). Symlinks are recreated as links (never written through), so the tree matches the
Debian layout the loader and Python expect.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

PYTHON = "/usr/bin/python3.11"
STDLIB = "/usr/lib/python3.11"
NONROOT = 65532
# Parts of the standard library no server needs (GUI, IDE, self-tests, pip bootstrap).
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3/tests", "unittest/test",
               "distutils/tests", "ctypes/test", "sqlite3/test", "tkinter/test"}
# packages whose run-time code imports from their tests package (numpy 2: numpy.testing needs
# numpy._core.tests._natype, and scipy imports numpy.testing; alibi 0.9: alibi.utils.discretizer imports
# alibi.tests.utils)
KEEP_TESTS = {"numpy", "alibi"}
EXTRA_FILES = ["/usr/bin/python3", "/etc/python3.11", "/etc/ssl/certs/ca-certificates.crt",
               "/usr/lib/ssl/certs", "/usr/lib/ssl/openssl.cnf", "/etc/os-release", "/usr/lib/os-release",
               "/lib64/ld-linux-x86-64.so.2"]
MERGED_USR = ["/bin", "/sbin", "/lib", "/lib64"]
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"


class Tree:
    """The files to copy into OUT, with every symlink on the way recorded as a link."""

    def __init__(self, out: Path | None, skip: set[str] = frozenset()) -> None:
        self.out = out
        self.done: set[str] = set()
        self.walked: set[str] = set()   # directories added with all their contents
        self.skip = skip       # files and links a lower image layer already has (directories never skip)

    def _dst(self, path: str) -> Path:
        assert self.out is not None
        return self.out / path.lstrip("/")

    def add_dir(self, path: str) -> str:
        """Make path's directory chain exist in OUT (links as links); return its symlink-free form."""
        if path == "/":
            return "/"
        parent = self.add_dir(os.path.dirname(path))
        src = os.path.join(parent, os.path.basename(path))
        if os.path.islink(src):
            target = os.readlink(src)
            self._link(src, target)
            return self.add_dir(os.path.normpath(os.path.join(parent, target)))
        if src not in self.done:
            self.done.add(src)
            if self.out is not None:       # links are mirrored and directories made even when a lower layer
                dst = self._dst(src)       # has them: COPY would replace a link by a directory otherwise
                dst.mkdir(exist_ok=True)
                os.chmod(dst, stat.S_IMODE(os.stat(src).st_mode))
        return src

    def _link(self, src: str, target: str) -> None:
        if src in self.done:
            return
        self.done.add(src)
        if self.out is not None:
            dst = self._dst(src)
            if not os.path.lexists(dst):
                os.symlink(target, dst)

    def add(self, path: str) -> None:
        """Add a file, link or directory (recursively); links bring their targets along."""
        path = os.path.normpath(path)
        if not os.path.lexists(path):
            raise SystemExit(f"mkroot: {path} does not exist in the build tree")
        parent = self.add_dir(os.path.dirname(path))
        src = os.path.join(parent, os.path.basename(path))
        is_dir = os.path.isdir(src) and not os.path.islink(src)
        if src in (self.walked if is_dir else self.done) or (src in self.skip and not is_dir):
            return
        if os.path.islink(src):
            target = os.readlink(src)
            self._link(src, target)
            self.add(os.path.normpath(os.path.join(parent, target)))
        elif is_dir:
            self.add_dir(src)
            self.walked.add(src)
            for name in sorted(os.listdir(src)):
                self.add(os.path.join(src, name))
        else:
            self.done.add(src)
            if self.out is not None:
                shutil.copy2(src, self._dst(src), follow_symlinks=False)


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def shared_libraries(path: str) -> tuple[list[str], list[str]]:
    """(resolved libraries, names ldd could not find) of one ELF file."""
    proc = subprocess.run(["ldd", path], capture_output=True, text=True)
    if proc.returncode != 0:      # static binary, or not a dynamic object
        return [], []
    found, missing = [], []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split()[0])
        elif "=>" in line:
            target = line.split("=>", 1)[1].split("(")[0].strip()
            if target.startswith("/"):
                found.append(target)
        elif line.startswith("/"):
            found.append(line.split()[0])
    return found, missing


def elf_files(root: str, skip: set[str] = frozenset()) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.relpath(os.path.join(dirpath, d), root) not in skip]
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p) and is_elf(p):
                out.append(p)
    return out


def libraries_of(elves: list[str], inside: str | None = None) -> set[str]:
    libs: set[str] = set()
    missing: dict[str, list[str]] = {}
    for elf in elves:
        found, lost = shared_libraries(elf)
        libs.update(lib for lib in found if not (inside and os.path.realpath(lib).startswith(inside + "/")))
        for name in lost:
            missing.setdefault(name, []).append(elf)
    shipped = {os.path.basename(e) for e in elves}   # vendored siblings (numpy.libs/...) resolve at run time
    for name, users in sorted(missing.items()):
        if name in shipped:
            continue
        print(f"mkroot: warning: {name} not found (needed by {len(users)} file(s), e.g. {users[0]})", file=sys.stderr)
    return libs


def python_tree(tree: Tree) -> None:
    def stdlib(dirpath: str) -> None:
        for name in sorted(os.listdir(dirpath)):
            p = os.path.join(dirpath, name)
            if os.path.relpath(p, STDLIB) in STDLIB_SKIP:
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                tree.add_dir(p)
                stdlib(p)
            else:
                tree.add(p)
    tree.add(PYTHON)
    stdlib(STDLIB)
    for path in EXTRA_FILES:
        tree.add(path)
    for lib in sorted(libraries_of([PYTHON, *elf_files(STDLIB, STDLIB_SKIP)])):
        tree.add(lib)


def write_base_files(out: Path) -> None:
    for link in MERGED_USR:       # bookworm is merged-/usr: /lib -> usr/lib and so on
        dst = out / link.lstrip("/")
        if not os.path.lexists(dst) and os.path.islink(link):
            os.symlink(os.readlink(link), dst)
    etc = out / "etc"
    etc.mkdir(exist_ok=True)
    # the users of every image we build (the Go images copy the same two files): nonroot is 65532
    for name in ("passwd", "group"):
        shutil.copy(Path(__file__).with_name(name), etc / name)
    (etc / "nsswitch.conf").write_text(NSSWITCH)
    for d, mode, owner in (("tmp", 0o1777, 0), ("home/nonroot", 0o755, NONROOT), ("root", 0o700, 0)):
        p = out / d
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, mode)
        os.chown(p, owner, owner)
    # a loader cache for exactly this tree (the builder's would name libraries that are not here)
    conf = out / "etc" / "ld.so.conf"
    conf.write_text("include /etc/ld.so.conf.d/*.conf\n")
    (out / "etc" / "ld.so.conf.d").mkdir(exist_ok=True)
    shutil.copy("/etc/ld.so.conf.d/x86_64-linux-gnu.conf", out / "etc" / "ld.so.conf.d")
    subprocess.run(["ldconfig", "-r", str(out)], check=True)


def clean_venv(venv: str) -> None:
    """No pip (nothing installs at run time) and no test suites (tens of MB in numpy, scipy, pandas)."""
    site = next(Path(venv, "lib").glob("python3*/site-packages"))
    for name in ("pip", "_distutils_hack", "distutils-precedence.pth"):
        for p in site.glob(name):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    for p in site.glob("pip-*.dist-info"):
        shutil.rmtree(p)
    for p in Path(venv, "bin").glob("pip*"):
        p.unlink()
    for p in sorted(site.rglob("tests"), key=lambda x: len(x.parts), reverse=True):
        top = p.relative_to(site).parts[0]
        if p.is_dir() and p.parent != site and top not in KEEP_TESTS:
            shutil.rmtree(p, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "python":
        out = Path(argv[1])
        out.mkdir(parents=True, exist_ok=True)
        tree = Tree(out)
        python_tree(tree)
        write_base_files(out)
    elif len(argv) == 3 and argv[0] == "venv":
        venv, out = os.path.realpath(argv[1]), Path(argv[2])
        clean_venv(venv)
        base = Tree(None)          # what the python base image already has
        python_tree(base)
        out.mkdir(parents=True, exist_ok=True)
        tree = Tree(out, skip=base.done)
        for lib in sorted(libraries_of(elf_files(venv), inside=venv)):
            if os.path.realpath(lib) not in base.done:
                print(f"mkroot: adding {lib} (needed by {venv})")
            tree.add(lib)
        tree.add(venv)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    files = sum(len(f) for _, _, f in os.walk(out))
    size = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(out) for f in fs)
    print(f"mkroot {argv[0]}: {files} files, {size / 1e6:.1f} MB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
