"""The Seldon operator at work: seldon-model scenarios become Deployments and Services, their pods run (on
kwok) and each SeldonDeployment reports state Available.

Runs the Seldon Core 1.17.1 manager that `scripts/bootstrap kwok` builds from the verified source
(.tools/bin/seldon-manager) as a local process against the kwok cluster, with the arguments and environment of
the seldon-operator chart's Deployment (kwok pods run no containers). Nothing fakes the operator."""
from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

from harness import find, require_built, scenarios, tool
from harness.cluster import Helm, wait_until
from harness.loopback import free_port
from kwok_support import SELDON_OPERATOR_MISSING, KwokEnv, pod_ready, pods

MANAGER = tool("seldon-manager")
pytestmark = pytest.mark.cluster_kwok
SCENARIOS = [s for s in ("iris", "ci/default", "ci/pipeline") if s in scenarios("seldon-model")]
Obj = dict[str, Any]


def _environment(container: Obj, objs: list[Obj], namespace: str) -> dict[str, str]:
    """The container's env as the kubelet would resolve it (values, the pod's namespace, ConfigMap keys)."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        source = var.get("valueFrom", {})
        if source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = namespace
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[var["name"]] = find(objs, "ConfigMap", ref["name"])["data"][ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[var["name"]] = base64.b64decode(find(objs, "Secret", ref["name"])["data"][ref["key"]]).decode()
    return env


@pytest.fixture
def operator(kwok: KwokEnv, helms: dict[str, Helm], namespace: Callable[..., str],
             tmp_path: Path) -> Iterator[str]:
    """The seldon-operator chart installed (its pods are kwok's), and the real manager running locally with
    that Deployment's arguments and environment. Its webhook cannot be reached by the API server from here,
    so the chart's webhook is installed with failurePolicy Ignore. Leader election is off: outside a pod the
    manager cannot tell its namespace ("not running in-cluster"), and one replica needs no lock."""
    require_built(MANAGER.exists(), SELDON_OPERATOR_MISSING)
    helm = helms["helm4"]
    ns = namespace("seldon-system")
    helm.install("seldon", "seldon-operator", ns, values={"crd": {"install": False}, "leaderElection": {"enabled": False},
                                                           "webhook": {"failurePolicy": "Ignore", "timeoutSeconds": 1}},
                 wait=True)
    objs = helm.manifest("seldon", ns)
    container = find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = _environment(container, objs, ns)
    args = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in container.get("args", [])]
    # the ports of the pod are the host's here: free loopback ones instead
    args = [a for a in args if not a.startswith(("--webhook-port=", "--metrics-addr="))]
    args += [f"--webhook-port={free_port()}", f"--metrics-addr=127.0.0.1:{free_port()}"]
    # controller-runtime serves the webhook from $TMPDIR/k8s-webhook-server/serving-certs: the chart's Secret.
    certs = tmp_path / "k8s-webhook-server" / "serving-certs"
    certs.mkdir(parents=True)
    secret = next(o for o in objs if o["kind"] == "Secret" and o.get("type") == "kubernetes.io/tls")
    for key in ("tls.crt", "tls.key"):
        (certs / key).write_bytes(base64.b64decode(secret["data"][key]))
    log = (tmp_path / "manager.log").open("w")
    proc = subprocess.Popen([str(MANAGER), *args], env={**os.environ, **env, "KUBECONFIG": str(kwok.kubeconfig),
                                                        "TMPDIR": str(tmp_path)},
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        yield ns
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        helm.uninstall("seldon", ns, wait=False, check=False)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_operator_turns_models_into_running_deployments(kwok: KwokEnv, operator: str, helms: dict[str, Helm],
                                                        namespace: Callable[..., str], restricted_labels: dict[str, str],
                                                        scenario: str) -> None:
    helm = helms["helm4"]
    release = re.sub(r"[^a-z0-9-]", "-", scenario)
    ns = namespace(f"op-models-{release}", restricted_labels)
    helm.install(release, "seldon-model", ns, values_files=[scenarios("seldon-model")[scenario]])
    sd = find(helm.manifest(release, ns), "SeldonDeployment")
    name = sd["metadata"]["name"]

    def available() -> Obj | None:
        state = kwok.kubectl.json("get", "seldondeployment", name, "-n", ns)
        return state if state.get("status", {}).get("state") == "Available" else None
    try:
        status = wait_until(available, 180, f"SeldonDeployment {name} to be Available")["status"]
        deployments = sorted(status.get("deploymentStatus", {}))
        assert deployments, status
        wait_for_deployments_to_run(kwok.api, deployments, ns, timeout_sec=60)
        for predictor in sd["spec"]["predictors"]:
            service = f"{name}-{predictor['name']}"
            assert kwok.kubectl("get", "service", service, "-n", ns, check=False).returncode == 0, service
        running = pods(kwok.api, ns, {"seldon-deployment-id": name})
        assert running and all(pod_ready(p) for p in running)
    finally:
        helm.uninstall(release, ns, wait=False, check=False)

