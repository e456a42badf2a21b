"""Pieces the README's test command builds itself (tools, images, CRDs, the Seldon binaries). On a developer's
machine a test that lacks one skips with what to run; under CI=true it fails, because there the test command
must have built it: a skip would hide a missing install step."""
from __future__ import annotations

import os

import pytest

CI = os.environ.get("CI") == "true"


def require_built(present: bool, reason: str) -> None:
    """Skip (or, under CI=true, fail) unless `present`; `reason` names the piece and the command that builds it."""
    if present:
        return
    if CI:
        pytest.fail(f"{reason} [CI=true: scripts/test builds this, so its absence is a failure]", pytrace=False)
    pytest.skip(reason)
