"""Every chart x scenario renders under Helm 3 and Helm 4, identically, and matches its golden snapshot."""
from __future__ import annotations

from pathlib import Path

import pytest


from harness import all_scenarios, in_stable_order, pod_specs, render, render_text

SNAPSHOTS = Path(__file__).parent / "snapshots"
SCENARIOS = all_scenarios()
IDS = [f"{chart}:{name}" for chart, name, _ in SCENARIOS]

pytestmark = pytest.mark.render


@pytest.mark.parametrize(("chart", "scenario", "values_file"), SCENARIOS, ids=IDS)
def test_renders_same_under_both_helms(chart: str, scenario: str, values_file: Path) -> None:
    helm4 = render(chart, values_files=[values_file], helm="helm4")
    helm3 = render(chart, values_files=[values_file], helm="helm3")
    assert helm4, f"{chart} ({scenario}) rendered no objects"
    assert in_stable_order(helm4) == in_stable_order(helm3)


@pytest.mark.parametrize(("chart", "scenario", "values_file"), SCENARIOS, ids=IDS)
def test_matches_snapshot(chart: str, scenario: str, values_file: Path, request: pytest.FixtureRequest) -> None:
    text = render_text(chart, values_files=[values_file])
    snapshot = SNAPSHOTS / chart / f"{scenario.replace('/', '-')}.yaml"
    if request.config.getoption("--update-snapshots"):
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(text)
    assert snapshot.exists(), f"no snapshot {snapshot.relative_to(SNAPSHOTS.parent)}: run scripts/test --update-snapshots"
    assert text == snapshot.read_text(), f"{chart} ({scenario}) differs from its snapshot: review, then --update-snapshots"


@pytest.mark.parametrize(("chart", "scenario", "values_file"), SCENARIOS, ids=IDS)
def test_standard_labels_and_restricted_pods(chart: str, scenario: str, values_file: Path) -> None:
    objs = render(chart, values_files=[values_file])
    for obj in objs:
        labels = obj["metadata"].get("labels") or {}
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks label {key}"
    for owner, spec in pod_specs(objs):
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        pod_sc = spec.get("securityContext") or {}
        # Node agents that cannot be restricted (hostPath into the kubelet, root) say so on their owner,
        # with a reason; they live in a namespace labelled enforce=privileged. They may run as root (and
        # be privileged when they say so) but still need seccomp and requests+limits.
        annotations = owner["metadata"].get("annotations") or {}
        exempt = annotations.get("ml-serving-charts.io/pod-security") == "privileged"
        if exempt:
            assert annotations.get("ml-serving-charts.io/pod-security-reason"), f"{where}: privileged without a reason"
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            if not container.get("image"):  # Seldon prepackaged-server overrides: the operator fills in the rest
                continue
            sc = container.get("securityContext") or {}
            if not (exempt and sc.get("privileged")):
                assert sc.get("allowPrivilegeEscalation") is False, f"{where}/{container['name']}: allowPrivilegeEscalation"
                drop = sc.get("capabilities", {}).get("drop", [])
                assert drop == ["ALL"] or (exempt and "ALL" in drop), f"{where}/{container['name']}: capabilities"
            if not exempt:
                assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{where}/{container['name']}: runAsNonRoot"
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            assert seccomp in ("RuntimeDefault", "Localhost"), f"{where}/{container['name']}: seccompProfile"
            resources = container.get("resources") or {}
            assert resources.get("requests") and resources.get("limits"), f"{where}/{container['name']}: requests and limits"


def test_snapshots_have_scenarios() -> None:
    """A snapshot whose scenario is gone is stale and must be deleted."""
    expected = {SNAPSHOTS / chart / f"{name.replace('/', '-')}.yaml" for chart, name, _ in SCENARIOS}
    stale = sorted(str(p.relative_to(SNAPSHOTS)) for p in SNAPSHOTS.rglob("*.yaml") if p not in expected)
    assert not stale, f"stale snapshots: {stale}"
