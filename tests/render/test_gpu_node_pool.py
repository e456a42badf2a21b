"""gpu-node-pool, object by object: pools per provider, device plugin, DCGM exporter, priorities,
headroom, and every cross-field rule's error text under both Helms."""
from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from harness import HELMS, VALUES, RenderError, chart_path, find, find_all, render, tool_env

pytestmark = pytest.mark.render

CHART = "gpu-node-pool"
Obj = dict[str, Any]
GPU_TAINT = [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
AWS = {"provider": "aws", "aws": {"role": "KarpenterNodeRole-c1", "discoveryTags": {"karpenter.sh/discovery": "c1"}}}


def scenario(name: str, helm: str = "helm4") -> list[Obj]:
    return render(CHART, values_files=[VALUES / CHART / f"{name}.yaml"], helm=helm)


def requirement(pool: Obj, key: str) -> Obj:
    (req,) = [r for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
    return req


# ------------------------------------------------------------------ simulated (kwok) nodes

def test_simulated_nodes_match_the_kwok_cluster() -> None:
    nodes = {n["metadata"]["name"]: n for n in find_all(scenario("simulated"), "Node")}
    assert sorted(nodes) == ["kwok-cpu-0", "kwok-cpu-1", "kwok-gpu-a100-0", "kwok-gpu-a100-1", "kwok-gpu-l4-0", "kwok-gpu-l4-1"]
    for name, node in nodes.items():
        assert node["apiVersion"] == "v1"
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert node["status"]["capacity"] == node["status"]["allocatable"]
        assert {"cpu", "memory", "pods"} <= set(node["status"]["allocatable"])
    a100 = nodes["kwok-gpu-a100-0"]
    assert a100["metadata"]["labels"]["ml-serving-charts.io/pool"] == "gpu-a100"
    assert {k: a100["metadata"]["labels"][k] for k in ("nvidia.com/gpu.present", "nvidia.com/gpu.product", "nvidia.com/gpu.memory", "nvidia.com/gpu.count")} == {
        "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB", "nvidia.com/gpu.memory": "40960", "nvidia.com/gpu.count": "4"}
    assert a100["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert a100["spec"]["taints"] == GPU_TAINT
    l4 = nodes["kwok-gpu-l4-1"]
    assert l4["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert l4["status"]["capacity"]["nvidia.com/gpu"] == "2"
    cpu = nodes["kwok-cpu-0"]
    assert cpu["spec"] == {}, "CPU pools are not tainted"
    assert "nvidia.com/gpu" not in cpu["status"]["allocatable"]
    assert not any(k.startswith("nvidia.com/") for k in cpu["metadata"]["labels"])


def test_simulated_mig_nodes_advertise_slices() -> None:
    nodes = {n["metadata"]["labels"]["ml-serving-charts.io/pool"]: n for n in find_all(scenario("mig"), "Node")}
    mixed, single = nodes["gpu-a100-mig"], nodes["gpu-a100-single"]
    assert mixed["status"]["allocatable"]["nvidia.com/mig-1g.5gb"] == "28"
    assert "nvidia.com/gpu" not in mixed["status"]["allocatable"]
    assert mixed["metadata"]["labels"]["nvidia.com/mig.config"] == "all-1g.5gb"
    assert mixed["metadata"]["labels"]["nvidia.com/device-plugin.config"] == "mig-mixed"
    assert single["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert single["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-40GB-MIG-3g.20gb"
    assert single["metadata"]["labels"]["nvidia.com/mig.strategy"] == "single"


def test_simulated_renamed_time_slicing_advertises_shared_resource() -> None:
    objs = render(CHART, {"provider": "simulated", "devicePlugin": {"configs": {"ts": {"timeSlicing": {"replicas": 3, "renameByDefault": True}}}},
                          "pools": [{"name": "l4", "gpu": {"count": 2}, "devicePluginConfig": "ts"}]})
    node = find(objs, "Node")
    assert node["status"]["allocatable"]["nvidia.com/gpu.shared"] == "6"
    assert node["metadata"]["labels"]["nvidia.com/gpu.sharing-strategy"] == "time-slicing"
    pools = yaml.safe_load(find(objs, "ConfigMap", "test-gpu-node-pool-pools")["data"]["pools.yaml"])
    assert pools[0]["workloadGpu"] == {"count": 1, "resource": "nvidia.com/gpu.shared", "pool": {"name": "l4"}}


# ------------------------------------------------------------------ Karpenter

def test_eks_nodepools_carry_pool_identity_and_gpu_requirements() -> None:
    objs = scenario("eks")
    a100 = find(objs, "NodePool", "gpu-a100")
    tpl = a100["spec"]["template"]
    assert tpl["metadata"]["labels"]["ml-serving-charts.io/pool"] == "gpu-a100"
    assert tpl["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert tpl["spec"]["taints"] == GPU_TAINT
    assert tpl["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu-a100"}
    assert requirement(a100, "ml-serving-charts.io/pool") == {"key": "ml-serving-charts.io/pool", "operator": "In", "values": ["gpu-a100"]}
    assert requirement(a100, "karpenter.k8s.aws/instance-gpu-count")["values"] == ["8"]
    assert requirement(a100, "karpenter.k8s.aws/instance-family")["values"] == ["p4d"]
    assert tpl["spec"]["expireAfter"] == "1440h" and tpl["spec"]["terminationGracePeriod"] == "4h"
    assert a100["spec"]["limits"] == {"nvidia.com/gpu": "16"}
    assert a100["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty"
    l4 = find(objs, "NodePool", "gpu-l4")
    assert requirement(l4, "karpenter.sh/capacity-type")["values"] == ["on-demand", "spot"]
    assert l4["spec"]["disruption"]["budgets"][1] == {"nodes": "0", "schedule": "0 8 * * mon-fri", "duration": "10h"}
    cpu = find(objs, "NodePool", "cpu")
    assert "taints" not in cpu["spec"]["template"]["spec"]
    assert cpu["spec"]["limits"] == {"cpu": "160"}
    assert requirement(cpu, "karpenter.k8s.aws/instance-category")["values"] == ["c", "m", "r"]


def test_eks_nodeclass_has_role_discovery_and_safe_defaults() -> None:
    nc = find(scenario("eks"), "EC2NodeClass", "gpu-l4")["spec"]
    assert nc["role"] == "KarpenterNodeRole-ml-prod"
    assert nc["subnetSelectorTerms"] == nc["securityGroupSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "ml-prod"}}]
    assert nc["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert nc["metadataOptions"]["httpTokens"] == "required" and nc["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert nc["blockDeviceMappings"][0]["ebs"]["encrypted"] is True
    assert nc["tags"] == {"team": "ml-platform", "ml-serving-charts.io/pool": "gpu-l4"}


def test_aks_nodepools_point_at_aks_nodeclasses() -> None:
    objs = scenario("aks")
    pool = find(objs, "NodePool", "gpu-a100")
    assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "gpu-a100"}
    assert requirement(pool, "karpenter.azure.com/sku-gpu-count")["values"] == ["1"]
    assert requirement(pool, "karpenter.azure.com/sku-family")["values"] == ["NC"]
    nc = find(objs, "AKSNodeClass", "gpu-a100")
    assert nc["apiVersion"] == "karpenter.azure.com/v1beta1"
    assert nc["spec"] == {"imageFamily": "AzureLinux", "osDiskSizeGB": 512, "tags": {"team": "ml-platform"}}


def test_user_pool_taints_replace_the_default_and_are_tolerated_by_daemons() -> None:
    taints = [{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}]
    objs = render(CHART, {**AWS, "pools": [{"name": "llm", "gpu": {"count": 1}, "taints": taints}]})
    assert find(objs, "NodePool")["spec"]["template"]["spec"]["taints"] == taints
    for ds in find_all(objs, "DaemonSet"):
        tolerations = ds["spec"]["template"]["spec"]["tolerations"]
        assert {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"} in tolerations
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    pools = yaml.safe_load(find(objs, "ConfigMap", "test-gpu-node-pool-pools")["data"]["pools.yaml"])
    assert pools[0]["workloadGpu"]["pool"] == {"name": "llm", "taints": taints}


# ------------------------------------------------------------------ GKE and Cluster API

def test_gke_computeclass() -> None:
    objs = scenario("gke")
    cc = find(objs, "ComputeClass", "gpu-l4")["spec"]
    assert cc["priorities"][0] == {"machineFamily": "g2", "gpu": {"type": "nvidia-l4", "count": 1, "driverVersion": "latest"}, "spot": False}
    assert cc["priorities"][1]["spot"] is True
    assert cc["nodePoolAutoCreation"] == {"enabled": True}
    assert cc["whenUnsatisfiable"] == "DoNotScaleUp"
    assert cc["activeMigration"] == {"optimizeRulePriority": False}
    assert cc["autoscalingPolicy"] == {"consolidationDelayMinutes": 10}
    assert cc["nodePoolConfig"]["nodeLabels"] == {"ml-serving-charts.io/pool": "gpu-l4", "nvidia.com/gpu.product": "NVIDIA-L4"}
    assert "taints" not in cc["nodePoolConfig"], "GKE taints GPU nodes itself"
    cpu = find(objs, "ComputeClass", "cpu")["spec"]
    assert cpu["priorities"] == [{"machineFamily": "n2", "minCores": 8, "minMemoryGb": 32, "spot": False}]
    assert not find_all(objs, "DaemonSet", "test-gpu-node-pool-device-plugin"), "GKE runs its own device plugin"


def test_capi_machinedeployment_scales_from_zero() -> None:
    objs = scenario("capi")
    md = find(objs, "MachineDeployment", "ml-prod-gpu-a100")
    assert md["metadata"]["namespace"] == "capi-clusters"
    ann = md["metadata"]["annotations"]
    assert ann["cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"] == "0"
    assert ann["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"] == "2"
    cap = "capacity.cluster-autoscaler.kubernetes.io/"
    assert (ann[cap + "cpu"], ann[cap + "memory"], ann[cap + "gpu-type"], ann[cap + "gpu-count"]) == ("96", "1152Gi", "nvidia.com/gpu", "8")
    assert ann[cap + "taints"] == "nvidia.com/gpu:NoSchedule"
    labels = dict(p.split("=") for p in ann[cap + "labels"].split(","))
    assert labels["ml-serving-charts.io/pool"] == "gpu-a100"
    assert labels["cluster-api/accelerator"] == "NVIDIA-A100-SXM4-40GB"
    spec = md["spec"]
    assert spec["clusterName"] == spec["template"]["spec"]["clusterName"] == "ml-prod"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["template"]["spec"]["bootstrap"]["configRef"]["name"] == "ml-prod-gpu-a100"
    assert "replicas" not in spec, "the autoscaler owns the size"
    cpu = find(objs, "MachineDeployment", "ml-prod-cpu")["metadata"]["annotations"]
    assert cap + "gpu-type" not in cpu and cap + "taints" not in cpu
    assert cpu["cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"] == "1"
    assert find(objs, "MachineDeployment", "ml-prod-cpu")["spec"]["template"]["spec"]["bootstrap"]["configRef"]["name"] == "ml-prod-workers"


# ------------------------------------------------------------------ device plugin

def test_device_plugin_configs_per_node_label() -> None:
    objs = scenario("time-slicing")
    configs = find(objs, "ConfigMap", "test-gpu-node-pool-device-plugin-configs")["data"]
    assert sorted(configs) == ["default", "ts4"]
    ts4 = yaml.safe_load(configs["ts4"])
    assert ts4["version"] == "v1"
    assert ts4["sharing"]["timeSlicing"] == {"renameByDefault": False, "failRequestsGreaterThanOne": True,
                                             "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}
    assert "sharing" not in yaml.safe_load(configs["default"])
    shared = find(objs, "NodePool", "gpu-l4-shared")["spec"]["template"]["metadata"]["labels"]
    assert shared["nvidia.com/device-plugin.config"] == "ts4"
    assert find(objs, "NodePool", "gpu-l4")["spec"]["template"]["metadata"]["labels"]["nvidia.com/device-plugin.config"] == "default"


def test_time_slicing_fails_requests_greater_than_one_by_default() -> None:
    objs = render(CHART, {"devicePlugin": {"configs": {"default": {"timeSlicing": {"replicas": 2}}}}})
    config = yaml.safe_load(find(objs, "ConfigMap", "test-gpu-node-pool-device-plugin-configs")["data"]["default"])
    assert config["sharing"]["timeSlicing"]["failRequestsGreaterThanOne"] is True
    objs = render(CHART, {"devicePlugin": {"configs": {"default": {"timeSlicing": {"replicas": 2, "failRequestsGreaterThanOne": False}}}}})
    config = yaml.safe_load(find(objs, "ConfigMap", "test-gpu-node-pool-device-plugin-configs")["data"]["default"])
    assert config["sharing"]["timeSlicing"]["failRequestsGreaterThanOne"] is False


def test_mps_config_and_control_daemon() -> None:
    objs = render(CHART, {"devicePlugin": {"configs": {"default": {}, "mps2": {"mps": {"replicas": 2}}}}})
    config = yaml.safe_load(find(objs, "ConfigMap", "test-gpu-node-pool-device-plugin-configs")["data"]["mps2"])
    assert config["sharing"] == {"mps": {"renameByDefault": False, "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}}
    mps = find(objs, "DaemonSet", "test-gpu-node-pool-mps-control-daemon")["spec"]["template"]["spec"]
    assert mps["nodeSelector"] == {"nvidia.com/mps.capable": "true"}
    assert not find_all(render(CHART, {}), "DaemonSet", "test-gpu-node-pool-mps-control-daemon")


def test_device_plugin_daemonset() -> None:
    objs = render(CHART, {})
    ds = find(objs, "DaemonSet", "test-gpu-node-pool-device-plugin")
    assert ds["metadata"]["annotations"]["ml-serving-charts.io/pod-security"] == "privileged"
    spec = ds["spec"]["template"]["spec"]
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["priorityClassName"] == "system-node-critical"
    assert spec["shareProcessNamespace"] is True and spec["serviceAccountName"] == "test-gpu-node-pool-device-plugin"
    plugin = next(c for c in spec["containers"] if c["name"] == "device-plugin")
    assert plugin["image"] == "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
    sc = plugin["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]} and sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is False and spec["securityContext"]["runAsUser"] == 0
    assert {"name": "device-plugins", "mountPath": "/var/lib/kubelet/device-plugins"} in plugin["volumeMounts"]
    assert {"name": "CONFIG_FILE", "value": "/config/config.yaml"} in plugin["env"]
    init = spec["initContainers"][0]
    assert {"name": "NODE_LABEL", "value": "nvidia.com/device-plugin.config"} in init["env"]
    assert {"name": "DEFAULT_CONFIG", "value": "default"} in init["env"]
    role = find(objs, "ClusterRole", "test-gpu-node-pool-device-plugin")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]
    assert find(objs, "RuntimeClass", "nvidia")["handler"] == "nvidia"


def test_mig_adds_sys_admin_only() -> None:
    objs = render(CHART, {"devicePlugin": {"configs": {"default": {"migStrategy": "mixed"}}}})
    spec = find(objs, "DaemonSet", "test-gpu-node-pool-device-plugin")["spec"]["template"]["spec"]
    plugin = next(c for c in spec["containers"] if c["name"] == "device-plugin")
    assert plugin["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
    assert {"name": "NVIDIA_MIG_MONITOR_DEVICES", "value": "all"} in plugin["env"]


def test_image_registry_override_and_digest() -> None:
    objs = render(CHART, {"global": {"imageRegistry": "mirror.local"},
                          "devicePlugin": {"image": {"digest": "sha256:" + "a" * 64}}})
    spec = find(objs, "DaemonSet", "test-gpu-node-pool-device-plugin")["spec"]["template"]["spec"]
    assert {c["image"] for c in spec["containers"]} == {"mirror.local/nvidia/k8s-device-plugin@sha256:" + "a" * 64}
    dcgm = find(objs, "DaemonSet", "test-gpu-node-pool-dcgm-exporter")["spec"]["template"]["spec"]["containers"][0]
    assert dcgm["image"] == "mirror.local/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04"


# ------------------------------------------------------------------ DCGM exporter

def test_dcgm_exporter_attributes_gpus_to_pods_and_is_scraped() -> None:
    objs = scenario("eks")
    spec = find(objs, "DaemonSet", "test-gpu-node-pool-dcgm-exporter")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"} in container["env"]
    assert {"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True} in container["volumeMounts"]
    assert {"name": "pod-resources", "hostPath": {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}} in spec["volumes"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert spec["automountServiceAccountToken"] is False
    svc = find(objs, "Service", "test-gpu-node-pool-dcgm-exporter")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9400, "targetPort": "metrics", "protocol": "TCP"}]
    sm = find(objs, "ServiceMonitor", "test-gpu-node-pool-dcgm-exporter")
    assert sm["metadata"]["labels"]["release"] == "kps"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s", "honorLabels": True}]
    assert sm["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    assert not find_all(render(CHART, {}), "ServiceMonitor"), "no ServiceMonitor unless asked (needs the CRD)"


# ------------------------------------------------------------------ priorities and headroom

def test_priority_classes_and_headroom() -> None:
    objs = scenario("eks")
    classes = {p["metadata"]["name"]: p for p in find_all(objs, "PriorityClass")}
    assert classes["ml-inference-critical"]["value"] > classes["ml-inference"]["value"] > 0
    headroom = classes["ml-headroom"]
    assert headroom["value"] == -10 and headroom["preemptionPolicy"] == "Never" and headroom["globalDefault"] is False
    dep = find(objs, "Deployment", "test-gpu-node-pool-headroom-gpu-l4")
    assert dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "ml-headroom" and pod["terminationGracePeriodSeconds"] == 0
    container = pod["containers"][0]
    assert container["image"] == "registry.k8s.io/pause:3.10"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1, "a whole g6 node: 1 GPU"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1


def test_headroom_gpus_per_placeholder() -> None:
    objs = render(CHART, {"provider": "simulated", "pools": [{"name": "big", "gpu": {"count": 8}}],
                          "headroom": {"enabled": True, "placeholders": [{"pool": "big", "replicas": 2, "gpus": 4}]}})
    dep = find(objs, "Deployment", "test-gpu-node-pool-headroom-big")
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 4


# ------------------------------------------------------------------ catalog, tests, NOTES

def test_pool_catalog_lists_every_pool() -> None:
    cm = find(scenario("eks"), "ConfigMap", "test-gpu-node-pool-pools")
    assert cm["data"]["provider"] == "aws"
    pools = {p["name"]: p for p in yaml.safe_load(cm["data"]["pools.yaml"])}
    assert sorted(pools) == ["cpu", "gpu-a100", "gpu-l4"]
    assert pools["gpu-a100"]["resources"] == {"nvidia.com/gpu": 8}
    assert pools["gpu-a100"]["taints"] == GPU_TAINT
    assert pools["cpu"] == {"name": "cpu", "gpu": False, "accelerator": "none", "nodeLabels": {"ml-serving-charts.io/pool": "cpu"},
                            "taints": [], "resources": {}, "sharing": "none"}
    assert pools["gpu-a100"]["accelerator"] == "nvidia" and "workloadAccelerator" not in pools["gpu-a100"]


def test_helm_tests() -> None:
    objs = scenario("eks")
    catalog = find(objs, "Pod", "test-gpu-node-pool-test-catalog")
    assert catalog["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = catalog["spec"]["containers"][0]["command"][2]
    assert 'grep -q "name: gpu-l4$" /catalog/pools.yaml' in script
    gpu = find(objs, "Pod", "test-gpu-node-pool-test-gpu")["spec"]
    assert gpu["containers"][0]["command"] == ["nvidia-smi", "-L"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "ml-serving-charts.io/pool", "operator": "In", "values": ["gpu-l4"]}]
    assert not find_all(scenario("simulated"), "Pod", "test-gpu-node-pool-test-gpu")


def test_notes_give_the_model_gpu_block_and_capi_kubelet_flags() -> None:
    """NOTES through Helm 4's client-side dry run (Helm 3.17's still wants a cluster)."""
    out = subprocess.run([str(HELMS["helm4"]), "install", "gpu", str(chart_path(CHART)), "--dry-run=client", "-f",
                          str(VALUES / CHART / "capi.yaml")], capture_output=True, text=True, env=tool_env())
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert "--node-labels=ml-serving-charts.io/pool=gpu-a100,nvidia.com/device-plugin.config=default,nvidia.com/gpu.present=true," in notes
    assert "--register-with-taints=nvidia.com/gpu:NoSchedule" in notes
    assert "name: gpu-a100" in notes and "pod-security.kubernetes.io/enforce=privileged" in notes


# ------------------------------------------------------------------ cross-field rules

FAILURES = {
    "time-slicing with mps": ({"devicePlugin": {"configs": {"default": {"timeSlicing": {"replicas": 2}, "mps": {"replicas": 2}}}}},
                              "devicePlugin.configs.default sets both timeSlicing and mps: the device plugin can share a GPU one way only"),
    "mps with mig": ({"devicePlugin": {"configs": {"default": {"migStrategy": "single", "mps": {"replicas": 2}}}}},
                     "devicePlugin.configs.default combines mps with migStrategy single: MPS does not work with MIG"),
    "time-slicing with mig mixed": ({"devicePlugin": {"configs": {"default": {"migStrategy": "mixed", "timeSlicing": {"replicas": 2}}}}},
                                    "devicePlugin.configs.default combines timeSlicing with migStrategy mixed"),
    "mig mixed without profiles": ({"provider": "simulated", "devicePlugin": {"configs": {"default": {}, "mig": {"migStrategy": "mixed"}}},
                                    "pools": [{"name": "a100", "gpu": {"count": 4}, "devicePluginConfig": "mig"}]},
                                   "pools[0] uses device plugin config \"mig\" with MIG strategy mixed but pools[0].mig.profiles is empty: name the MIG profiles"),
    "mig single with two profiles": ({"provider": "simulated", "devicePlugin": {"configs": {"default": {"migStrategy": "single"}}},
                                      "pools": [{"name": "a100", "gpu": {"count": 4}, "mig": {"profiles": {"1g.5gb": 7, "2g.10gb": 3}}}]},
                                     "pools[0].mig.profiles has 2 profiles but MIG strategy single needs exactly one"),
    "mig profiles without mig": ({"provider": "simulated", "pools": [{"name": "a100", "gpu": {"count": 4}, "mig": {"profiles": {"1g.5gb": 7}}}]},
                                 "pools[0].mig.profiles is set but device plugin config \"default\" has migStrategy none"),
    "aws without role": ({"provider": "aws", "aws": {"discoveryTags": {"karpenter.sh/discovery": "c1"}}, "pools": [{"name": "p"}]},
                         "aws.role is empty: set it to the IAM role of the nodes"),
    "aws without discovery tags": ({"provider": "aws", "aws": {"role": "r"}, "pools": [{"name": "p"}]},
                                   "aws.discoveryTags is empty: set the tags of the subnets and security groups"),
    "aws with empty discovery tag": ({"provider": "aws", "aws": {"role": "r", "discoveryTags": {"karpenter.sh/discovery": ""}}, "pools": [{"name": "p"}]},
                                     "aws.discoveryTags.karpenter.sh/discovery is empty: give the tag a value"),
    "unknown device plugin config": ({**AWS, "pools": [{"name": "p", "gpu": {"count": 1}, "devicePluginConfig": "nope"}]},
                                     "pools[0].devicePluginConfig is \"nope\" but devicePlugin.configs has no such key (it has: default)"),
    "unknown default config": ({"devicePlugin": {"defaultConfig": "nope"}}, "devicePlugin.defaultConfig is \"nope\" but devicePlugin.configs has no such key"),
    "duplicate pool": ({**AWS, "pools": [{"name": "p"}, {"name": "p"}]}, "pools[1].name \"p\" is used twice"),
    "pools without provider": ({"pools": [{"name": "p"}]}, "pools has 1 entries but provider is none"),
    "gke gpu without type": ({"provider": "gke", "pools": [{"name": "l4", "gpu": {"count": 1}}]}, "pools[0].gke.gpuType is empty"),
    "capi without cluster": ({"provider": "capi", "capi": {"kubernetesVersion": "v1.34.4"}, "pools": [{"name": "p"}]}, "capi.clusterName is empty"),
    "capi without infrastructure": ({"provider": "capi", "capi": {"clusterName": "c", "kubernetesVersion": "v1.34.4"}, "pools": [{"name": "p"}]},
                                    "pools[0].capi.infrastructureRef is empty"),
    "capi without bootstrap": ({"provider": "capi", "capi": {"clusterName": "c", "kubernetesVersion": "v1.34.4"},
                                "pools": [{"name": "p", "capi": {"infrastructureRef": {"apiVersion": "a/v1", "kind": "K", "name": "n"}}}]},
                               "pools[0].capi.bootstrapConfigRef and capi.bootstrapConfigRef are empty"),
    "min above max": ({**AWS, "pools": [{"name": "p", "minNodes": 3, "maxNodes": 2}]}, "pools[0].minNodes (3) is above maxNodes (2)"),
    "headroom on cpu pool": ({"provider": "simulated", "pools": [{"name": "cpu"}], "headroom": {"enabled": True, "placeholders": [{"pool": "cpu"}]}},
                             "headroom.placeholders[0].pool is \"cpu\", which is not an accelerator pool of this release (accelerator pools: none)"),
    "gpu test without gpu pool": ({"provider": "simulated", "pools": [{"name": "cpu"}], "tests": {"gpu": {"enabled": True}}},
                                  "tests.gpu.enabled is true but tests.gpu.pool \"\" is not a GPU pool"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_cross_field_rules_fail_with_a_clear_message(case: str, helm: str) -> None:
    values, message = FAILURES[case]
    with pytest.raises(RenderError) as err:
        render(CHART, values, helm=helm)
    assert message in err.value.stderr


@pytest.mark.parametrize("values", [{"provider": "openstack"}, {"devicePlugin": {"configs": {"default": {"timeSlicing": {"replicas": 1}}}}}],
                         ids=["unknown-provider", "one-replica"])
def test_schema_rules_also_hold_when_helm_skips_the_schema(values: dict, helm: str) -> None:
    """values.schema.json rejects these; the templates reject them too when --skip-schema-validation is used."""
    with pytest.raises(RenderError) as err:
        render(CHART, values, helm=helm)
    assert "provider" in err.value.stderr or "replicas" in err.value.stderr
    with pytest.raises(RenderError) as err:
        render(CHART, values, helm=helm, extra_args=["--skip-schema-validation"])
    assert ('provider is "openstack": use one of aws, azure, gke, capi, simulated, none' in err.value.stderr
            or "devicePlugin.configs.default.timeSlicing.replicas is 1: time-slicing needs 2 or more replicas" in err.value.stderr)
