"""Every image scripts/images builds, run in plain Docker the way the charts run them (non-root, read-only root
filesystem, every capability dropped, no shell) and checked by its answers: msc.images.smoke, the same checks as
`scripts/images smoke`. In this tier because it needs the Docker engine; it needs no cluster."""
from __future__ import annotations

import pytest
from msc.images.smoke import CHECKS, IMAGES, run_checks

pytestmark = pytest.mark.cluster_kind


def test_every_image_has_a_check() -> None:
    assert set(CHECKS) == set(IMAGES)   # the app images and KServe's Go-built ones


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_answers_as_the_charts_expect(name: str) -> None:
    lines = run_checks([name])[name]
    assert lines and lines[0].startswith("USER 65532"), lines
