"""`ct install --upgrade` (the real ct v3.14.0, our ct.yaml) against the kind cluster, one chart at a time:
for every ci/*-values.yaml, install, `helm test`, then install the chart's previous revision (origin/main)
and upgrade it to the current one, `helm test` again. ct needs Git history, so it runs in a throwaway clone:
`origin/main` is the committed tree, the checked-out branch is the working tree's charts/ and ct.yaml.

What differs from a CI run on a cloud cluster, on purpose and per chart:
- scenarios that set `provider: simulated` (fake kwok Nodes) are left out of both revisions: on a real
  cluster their Node objects would attract pods that nothing runs (the cluster_kwok tier installs them);
- gpu-node-pool's catalog test runs docker.io/library/busybox, which no registry serves here: it gets
  msc.stack.BUSYBOX_STANDIN (localhost/ml-serving-charts/netbase, a local Debian image with sh and grep) through --helm-extra-set-args;
  its NVIDIA device plugin and DCGM exporter are turned off: their nvcr.io images cannot be pulled, and kind's
  GPU worker carries nvidia.com/gpu.present=true, so their DaemonSets would get a pod there that never starts
  (ci/kind-values.yaml expects no node with that label); its cluster-scoped names get a `ct-` prefix, so
  they never collide with a platform release on a reused cluster (scripts/demo's);
- ml-monitoring's monitors, rules and helm test point at the Prometheus of this tier (release=prometheus,
  prometheus-operated.monitoring.svc), whatever Prometheus a scenario names (kps-values names kube-prometheus-stack's).
- ml-platform gets the same gpu-node-pool and ml-monitoring settings for its subcharts;
- the SeldonDeployment CRD is the session operator's (conftest.seldon_operator): ct's operator releases
  (seldon-operator, ml-platform's subchart) install without it, and seldon-model's scenarios are served by it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from msc import clusters
from msc import stack as ks
from harness import ROOT, require_built, tool, tool_env
from kind_support import KindEnv

pytestmark = pytest.mark.cluster_kind

CT_TIMEOUT = 1200


def git(repo: Path, *args: str) -> str:
    env = {**tool_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def kwok_only_scenarios(repo: Path) -> list[Path]:
    out = []
    for path in sorted(repo.glob("charts/*/ci/*-values.yaml")):
        values = yaml.safe_load(path.read_text()) or {}
        if values.get("provider") == "simulated" or (values.get("gpu-node-pool") or {}).get("provider") == "simulated":
            out.append(path)
    return out


def drop_kwok_only(repo: Path, message: str) -> None:
    dropped = kwok_only_scenarios(repo)
    for path in dropped:
        path.unlink()
    if dropped:
        git(repo, "add", "-A", "charts")
        git(repo, "commit", "-q", "-m", f"{message}: {', '.join(str(p.relative_to(repo)) for p in dropped)}")


@pytest.fixture(scope="module")
def ct_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """origin/main = the committed tree; HEAD = the working tree's charts and ct.yaml (kwok-only scenarios out)."""
    tmp = tmp_path_factory.mktemp("ct-install")
    source = tmp / "source"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(source)], check=True)
    git(source, "checkout", "-q", "-B", "main")
    drop_kwok_only(source, "kind tier: kwok-only scenarios left out")
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", str(source), str(clone)], check=True)
    git(clone, "checkout", "-q", "-b", "kind-tier")
    shutil.rmtree(clone / "charts")
    shutil.copytree(ROOT / "charts", clone / "charts", ignore=shutil.ignore_patterns("charts", "Chart.lock", "crds", "tmpcharts*"))
    shutil.copy(ROOT / "ct.yaml", clone / "ct.yaml")
    for path in kwok_only_scenarios(clone):
        path.unlink()
    git(clone, "add", "-A", "charts", "ct.yaml")
    if git(clone, "status", "--porcelain"):
        git(clone, "commit", "-q", "-m", "working tree")
    return clone


def cluster_scoped_names(chart: Path, prefix: str) -> dict:
    """Values giving gpu-node-pool's cluster-scoped objects (PriorityClasses, RuntimeClass) prefixed names, so
    ct's releases never collide with another release of the chart on a reused cluster (the demo's platform)."""
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    return {"priorityClasses": {"classes": [{**c, "name": prefix + c["name"]} for c in defaults["priorityClasses"]["classes"]]},
            "runtimeClass": {"name": prefix + defaults["runtimeClass"]["name"]},
            "headroom": {"priorityClass": {"name": prefix + defaults["headroom"]["priorityClass"]["name"]}}}


def ct_install(repo: Path, kind: KindEnv, chart: str, set_args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**tool_env(), "KUBECONFIG": str(kind.kubeconfig), "HELM_CACHE_HOME": str(repo.parent / "helm-cache"),
           "HELM_CONFIG_HOME": str(repo.parent / "helm-config"), "HELM_DATA_HOME": str(repo.parent / "helm-data")}
    cmd = [str(tool("ct")), "install", "--config", "ct.yaml", "--charts", f"charts/{chart}", "--upgrade",
           "--helm-extra-args", "--timeout 300s"]
    if set_args:
        cmd += ["--helm-extra-set-args", " ".join(set_args)]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=CT_TIMEOUT)
    (repo.parent / f"ct-install-{chart}.log").write_text(proc.stdout + proc.stderr)
    return proc


def check_ct(proc: subprocess.CompletedProcess[str], scenarios: int) -> None:
    """ct passed; it upgraded a release of the previous revision (origin/main) and of the current one; and
    `helm test` ran and succeeded for each scenario after every install and upgrade."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, _result(proc)
    assert "All charts installed successfully" in out, _result(proc)
    phases = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Phase:")]
    assert phases and set(phases) == {"Succeeded"}, (phases, _result(proc))
    assert len(phases) >= 3 * scenarios, (phases, _result(proc))   # previous -> current, current -> current, fresh
    assert "relative to previous revision" in out and "ct-previous-revision" in out, _result(proc)
    assert out.count("has been upgraded") >= 2 * scenarios, _result(proc)


def _result(proc: subprocess.CompletedProcess[str]) -> str:
    return f"ct exited {proc.returncode}\n--- stdout (tail) ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


def gpu_node_pool_on_kind(repo: Path, under: str = "") -> list[str]:
    """ct's --helm-extra-set-args for gpu-node-pool on this cluster, as a chart or as the subchart `under`: the
    busybox stand-in for its catalog test, no NVIDIA device plugin or DCGM exporter, `ct-` cluster-scoped names."""
    require_built(ks.docker_has(ks.BUSYBOX_STANDIN),
                  f"image {ks.BUSYBOX_STANDIN} (busybox stand-in for the catalog test) not built: run scripts/images kind-node")
    at = f"{under}." if under else ""
    names = cluster_scoped_names(repo / "charts" / "gpu-node-pool", "ct-")
    names_file = repo.parent / f"{under or 'gpu-node-pool'}-ct-names.yaml"
    names_file.write_text(yaml.safe_dump({under: names} if under else names))
    return [*(f"--set={at}tests.image.{k}={v}" for k, v in ks.busybox_standin_values().items()),
            f"--set={at}devicePlugin.enabled=false", f"--set={at}dcgmExporter.enabled=false", f"--values={names_file}"]


def ml_monitoring_on_kind(under: str = "") -> list[str]:
    """Monitors, rules and the rules-loaded helm test pointed at this tier's Prometheus."""
    at = f"{under}." if under else ""
    return [f"--set={at}prometheus.release={ks.PROMETHEUS_RELEASE}", f"--set={at}tests.prometheusUrl={ks.PROMETHEUS_URL}"]


def scenario_count(repo: Path, chart: str) -> int:
    return len(list((repo / "charts" / chart / "ci").glob("*-values.yaml")))


def test_ct_install_gpu_node_pool(kind: KindEnv, ct_repo: Path) -> None:
    args = gpu_node_pool_on_kind(ct_repo)
    clusters.cluster("kind", kind.name).load([ks.BUSYBOX_STANDIN])
    check_ct(ct_install(ct_repo, kind, "gpu-node-pool", args), scenario_count(ct_repo, "gpu-node-pool"))


def test_ct_install_ml_monitoring(kind: KindEnv, ct_repo: Path, prometheus_stack: str) -> None:
    check_ct(ct_install(ct_repo, kind, "ml-monitoring", ml_monitoring_on_kind()), scenario_count(ct_repo, "ml-monitoring"))


# The SeldonDeployment CRD belongs to the session's seldon-operator release (conftest.seldon_operator): a CRD has
# one owning release, so ct's releases of the operator leave it out (crd.install=false; the chart README's case of
# a second operator release).
NO_CRD = "--set=crd.install=false"


def test_ct_install_ml_platform(kind: KindEnv, ct_repo: Path, prometheus_stack: str, seldon_operator: str) -> None:
    """The umbrella with its GPU pool, monitoring, the Seldon operator and the restricted model namespace (named
    ct-models, so a reused cluster's platform release keeps its own)."""
    args = [*gpu_node_pool_on_kind(ct_repo, under="gpu-node-pool"), *ml_monitoring_on_kind(under="ml-monitoring"),
            "--set=modelNamespaces[0].name=ct-models", NO_CRD.replace("--set=", "--set=seldon-operator."),
            *operator_test_image("seldon-operator.")]
    clusters.cluster("kind", kind.name).load([ks.BUSYBOX_STANDIN])
    check_ct(ct_install(ct_repo, kind, "ml-platform", args), scenario_count(ct_repo, "ml-platform"))


@pytest.mark.parametrize("chart", ["seldon-operator", "seldon-model"])
def test_ct_install_seldon_charts(kind: KindEnv, ct_repo: Path, seldon_operator: str, chart: str) -> None:
    """seldon-operator (a second operator release, without the CRD) and seldon-model, whose SeldonDeployments
    the session's operator serves: every ci scenario installed, upgraded from the previous revision and tested
    (`helm test` predicts through the executor)."""
    clusters.cluster("kind", kind.name).load([ks.BUSYBOX_STANDIN])
    check_ct(ct_install(ct_repo, kind, chart, [NO_CRD, *operator_test_image()] if chart == "seldon-operator" else []),
             scenario_count(ct_repo, chart))


def operator_test_image(at: str = "") -> list[str]:
    """seldon-operator's helm test runs busybox (wget, nc), which no registry serves here: the Debian stand-in
    (curl), which its test script also handles."""
    return [f"--set={at}tests.image.{k}={v}" for k, v in ks.busybox_standin_values().items()]
