"""`ct install --upgrade` (the real ct v3.14.0, our ct.yaml) against the kind cluster, one chart at a time:
for every ci/*-values.yaml, install, `helm test`, then install the chart's previous revision (origin/main)
and upgrade it to the current one, `helm test` again. ct needs Git history, so it runs in a throwaway clone:
`origin/main` is the committed tree, the checked-out branch is the working tree's charts/ and ct.yaml.

What differs from a CI run on a cloud cluster, on purpose and per chart:
- scenarios that set `provider: simulated` (fake kwok Nodes) are left out of both revisions: on a real
  cluster their Node objects would attract pods that nothing runs (the cluster_kwok tier installs them);
- gpu-node-pool's catalog test runs docker.io/library/busybox, which no registry serves here: it gets
  kind_stack.BUSYBOX_STANDIN (ml-serving-charts/netbase, a local Debian image with sh and grep) through --helm-extra-set-args;
  its NVIDIA device plugin and DCGM exporter are turned off: their nvcr.io images cannot be pulled, and kind's
  GPU worker carries nvidia.com/gpu.present=true, so their DaemonSets would get a pod there that never starts
  (ci/kind-values.yaml expects no node with that label); its cluster-scoped names get a `ct-` prefix, so
  they never collide with a platform release on a reused cluster (scripts/demo's);
- ml-monitoring's monitors, rules and helm test point at the Prometheus of this tier (release=prometheus,
  prometheus-operated.monitoring.svc), whatever Prometheus a scenario names (kps-values names kube-prometheus-stack's).
seldon-operator, seldon-model and ml-platform need the Seldon Core operator image: skipped with that reason."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import kind_stack as ks
from harness import ROOT, tool, tool_env
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


def test_ct_install_gpu_node_pool(kind: KindEnv, ct_repo: Path) -> None:
    if not ks.docker_has(ks.BUSYBOX_STANDIN):
        pytest.skip(f"image {ks.BUSYBOX_STANDIN} (busybox stand-in for the catalog test) not built: run scripts/images kind-node")
    ks.kind_load(kind.name, [ks.BUSYBOX_STANDIN])
    image = ks.busybox_standin_values()
    own_names = ct_repo.parent / "gpu-node-pool-ct-names.yaml"
    own_names.write_text(yaml.safe_dump(cluster_scoped_names(ct_repo / "charts" / "gpu-node-pool", "ct-")))
    proc = ct_install(ct_repo, kind, "gpu-node-pool",
                      [*(f"--set=tests.image.{k}={v}" for k, v in image.items()),
                       "--set=devicePlugin.enabled=false", "--set=dcgmExporter.enabled=false", f"--values={own_names}"])
    check_ct(proc, scenarios=len(list((ct_repo / "charts" / "gpu-node-pool" / "ci").glob("*-values.yaml"))))


def test_ct_install_ml_monitoring(kind: KindEnv, ct_repo: Path, prometheus_stack: str) -> None:
    proc = ct_install(ct_repo, kind, "ml-monitoring",
                      [f"--set=prometheus.release={ks.PROMETHEUS_RELEASE}", f"--set=tests.prometheusUrl={ks.PROMETHEUS_URL}"])
    check_ct(proc, scenarios=len(list((ct_repo / "charts" / "ml-monitoring" / "ci").glob("*-values.yaml"))))


@pytest.mark.parametrize("chart", ["seldon-operator", "seldon-model", "ml-platform"])
def test_ct_install_needs_the_seldon_operator(kind: KindEnv, ct_repo: Path, chart: str) -> None:
    if not ks.seldon_operator_available():
        pytest.skip(ks.SELDON_OPERATOR_MISSING)
    proc = ct_install(ct_repo, kind, chart, [])
    check_ct(proc, scenarios=len(list((ct_repo / "charts" / chart / "ci").glob("*-values.yaml"))))

