"""Render and validate every chart x scenario; print the figures (never fails on time).
Run alone with: scripts/bench   (or scripts/test -m bench -s)"""
from __future__ import annotations

import time

import pytest

from harness import KUBERNETES_MINORS, all_scenarios, render, validate_objects
from harness.render import _render_cached

pytestmark = pytest.mark.bench


def test_render_and_validate_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    scenarios = all_scenarios() or [("ml-common-probe", "defaults", None)]
    _render_cached.cache_clear()  # time real helm runs, not the harness cache
    t0 = time.perf_counter()
    rendered = [render(chart, values_files=[f] if f else []) for chart, _, f in scenarios]
    t_render = time.perf_counter() - t0
    objects = [obj for objs in rendered for obj in objs]
    validate_objects(objects[:1])  # compile the schemas first: steady state is what we measure
    t1 = time.perf_counter()
    problems = validate_objects(objects)
    t_validate = time.perf_counter() - t1
    assert not problems, problems[:5]
    checks = len(objects) * len(KUBERNETES_MINORS)
    with capsys.disabled():
        print(f"\n[bench] {len(scenarios)} chart x scenario renders: {t_render:.2f}s ({t_render / len(scenarios) * 1000:.0f} ms each)")
        print(f"[bench] validated {len(objects)} objects x {len(KUBERNETES_MINORS)} Kubernetes minors in {t_validate:.3f}s: "
              f"{len(objects) / t_validate:,.0f} objects/s ({checks / t_validate:,.0f} object-schema checks/s)")
        print(f"[bench] render + validate total: {t_render + t_validate:.2f}s")
