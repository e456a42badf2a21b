"""GPU placement with the real kube-scheduler on the session's simulated pools (from the gpu-node-pool
chart: cpu 2 nodes; gpu-a100 2 nodes x 4 A100; gpu-l4 2 nodes x 2 L4, one L4 held by a headroom placeholder).
Every GPU pod is rendered by our charts through ml-common's `gpu:` helpers: the ml-common-probe test chart,
and the gpu-llm model's componentSpec (values/seldon-model/gpu-llm.yaml) run as a Deployment, since
without the Seldon operator nothing else turns it into pods. All of it in a restricted model namespace."""
from __future__ import annotations

import copy
from typing import Any, Callable

import pykube
import pytest
import yaml
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

from harness import VALUES
from harness.cluster import Helm, wait_until
from kwok_support import GPU, KwokEnv, events, pod_ready, pods
from kwok_support import model_deployment as seldon_model_deployment

pytestmark = pytest.mark.cluster_kwok

GPU_LLM = yaml.safe_load((VALUES / "seldon-model" / "gpu-llm.yaml").read_text())


@pytest.fixture
def models(namespace: Callable[..., str], restricted_labels: dict[str, str]) -> str:
    return namespace("gpu-models", restricted_labels)


def model_deployment(name: str, namespace: str, replicas: int, pool: str, gpus: int = 1,
                     priority_class: str = "") -> dict:
    """The gpu-llm model's pod, as the seldon-model chart renders it, moved to `pool` (through the chart's
    values, so ml-common writes the affinity, tolerations and GPU resources)."""
    values: dict[str, Any] = copy.deepcopy(GPU_LLM)
    values["predictors"][0]["components"]["llm"]["gpu"] = {"count": gpus, "pool": {"name": pool}}
    values["defaults"] = {"podSpec": {"priorityClassName": priority_class}}
    return seldon_model_deployment(values, name, namespace, replicas)


def apply(kwok: KwokEnv, obj: dict) -> None:
    kwok.kubectl.apply([obj], force_conflicts=False)


def bound_pools(kwok: KwokEnv, namespace: str, selector: dict[str, str]) -> dict[str, str]:
    """pod -> pool of the node it is bound to."""
    return {p.name: kwok.pool_of(p.obj["spec"]["nodeName"]) for p in pods(kwok.api, namespace, selector)}


def gpus_in_use(kwok: KwokEnv, pool: str) -> int:
    """GPUs requested by the live pods bound to the pool's nodes."""
    nodes = set(kwok.nodes[pool])
    total = 0
    for pod in pykube.Pod.objects(kwok.api, namespace=pykube.all):
        if pod.obj["spec"].get("nodeName") in nodes and pod.obj["status"].get("phase") in ("Pending", "Running") \
                and not pod.obj["metadata"].get("deletionTimestamp"):
            total += sum(int((c.get("resources") or {}).get("requests", {}).get(GPU, 0))
                         for c in pod.obj["spec"]["containers"])
    return total


def test_gpu_pods_land_only_on_their_pool(kwok: KwokEnv, helms: dict[str, Helm], models: str) -> None:
    helm = helms["helm4"]
    releases = {"probe-a100": {"gpu": {"count": 2, "pool": {"name": "gpu-a100"}}},
                "probe-l4": {"gpu": {"count": 1, "pool": {"name": "gpu-l4"}}},
                "probe-cpu": {}}
    for release, values in releases.items():
        helm.install(release, "ml-common-probe", models, values=values, wait=True)
    # Six one-A100 model pods: the L4 nodes have room for some of them, but affinity and taints keep them off.
    llm = model_deployment("llm-a100", models, replicas=6, pool="gpu-a100")
    apply(kwok, llm)
    wait_for_deployments_to_run(kwok.api, ["llm-a100"], models, timeout_sec=60)

    placed = {release: bound_pools(kwok, models, {"app.kubernetes.io/instance": release}) for release in releases}
    assert set(placed["probe-a100"].values()) == {"gpu-a100"}, placed
    assert set(placed["probe-l4"].values()) == {"gpu-l4"}, placed
    assert set(placed["probe-cpu"].values()) == {"cpu"}, placed   # no toleration for the GPU taint
    llm_pools = bound_pools(kwok, models, llm["spec"]["selector"]["matchLabels"])
    assert len(llm_pools) == 6 and set(llm_pools.values()) == {"gpu-a100"}, llm_pools
    for release in releases:
        helm.uninstall(release, models, wait=False)


def test_more_gpus_than_a_node_has_stays_pending(kwok: KwokEnv, helms: dict[str, Helm], models: str) -> None:
    """Five GPUs on a pool whose nodes have four (A100) or two (L4): Pending, and the scheduler says why."""
    helm = helms["helm4"]
    for pool in ("gpu-a100", "gpu-l4"):
        helm.install(f"greedy-{pool}", "ml-common-probe", models, values={"gpu": {"count": 5, "pool": {"name": pool}}})
    for pool in ("gpu-a100", "gpu-l4"):
        (pod,) = wait_until(lambda: pods(kwok.api, models, {"app.kubernetes.io/instance": f"greedy-{pool}"}), 30,
                            f"the greedy-{pool} pod")
        (event,) = wait_until(lambda: events(kwok.api, models, pod.name, "FailedScheduling")[:1], 60,
                              f"a FailedScheduling event for {pod.name}")
        message = event.obj["message"]
        assert f"Insufficient {GPU}" in message, message
        pod.reload()
        assert pod.obj["status"]["phase"] == "Pending" and not pod.obj["spec"].get("nodeName")
        helm.uninstall(f"greedy-{pool}", models, wait=False)


def test_model_pod_preempts_the_headroom_placeholder(kwok: KwokEnv, models: str) -> None:
    """gpu-l4 holds 4 L4s; the pools release keeps one warm with a placeholder at negative priority
    (ml-headroom, preemptionPolicy Never). Four one-L4 model pods at the chart's ml-inference priority
    fill the pool: the scheduler preempts the placeholder for the fourth; the placeholder's replacement
    waits, and runs again once the models are gone."""
    placeholder_selector = {"app.kubernetes.io/instance": "pools", "app.kubernetes.io/component": "headroom-gpu-l4"}
    wait_until(lambda: gpus_in_use(kwok, "gpu-l4") == 1, 60, "gpu-l4 to hold only the headroom placeholder")
    (placeholder,) = wait_until(lambda: [p for p in pods(kwok.api, "gpu-pools", placeholder_selector) if pod_ready(p)],
                                60, "the headroom placeholder to run")
    assert placeholder.obj["spec"]["priority"] < 0 and kwok.pool_of(placeholder.obj["spec"]["nodeName"]) == "gpu-l4"

    model = model_deployment("llm-l4", models, replicas=4, pool="gpu-l4", priority_class="ml-inference")
    apply(kwok, model)
    try:
        wait_for_deployments_to_run(kwok.api, ["llm-l4"], models, timeout_sec=90)
        placed = bound_pools(kwok, models, model["spec"]["selector"]["matchLabels"])
        assert len(placed) == 4 and set(placed.values()) == {"gpu-l4"}, placed
        (preempted,) = wait_until(lambda: events(kwok.api, "gpu-pools", placeholder.name, "Preempted")[:1], 30,
                                  f"a Preempted event for {placeholder.name}")
        assert "Preempted by pod" in preempted.obj["message"]
        replacement = wait_until(lambda: [p for p in pods(kwok.api, "gpu-pools", placeholder_selector)
                                          if p.name != placeholder.name], 30, "the placeholder's replacement")
        assert all(p.obj["status"]["phase"] == "Pending" and not p.obj["spec"].get("nodeName") for p in replacement)
    finally:
        kwok.kubectl("delete", "deployment", "llm-l4", "-n", models, "--wait=true", "--timeout=60s")
    # The warm capacity comes back.
    wait_until(lambda: [p for p in pods(kwok.api, "gpu-pools", placeholder_selector) if pod_ready(p)], 60,
               "the headroom placeholder to run again")
