"""The model namespaces really enforce the `restricted` Pod Security Standard, so the admissions that
test_kwok_install.py sees there prove something: a privileged pod is refused, naming its violations.

(test_kwok_install.py installs every scenario with Helm 4 into such a namespace: Deployments and
DaemonSets must start pods there, SeldonDeployment componentSpecs and helm-test Pods must pass a
server-side dry run there, node agents that declare themselves privileged must be refused there.)"""
from __future__ import annotations

from typing import Callable

import pytest

from kwok_support import PLACEHOLDER_IMAGE, KwokEnv, dry_run_pods

pytestmark = pytest.mark.cluster_kwok


def test_privileged_pod_rejected(kwok: KwokEnv, namespace: Callable[..., str],
                                 restricted_labels: dict[str, str]) -> None:
    ns = namespace("models-restricted", restricted_labels)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"},
           "spec": {"containers": [{"name": "c", "image": PLACEHOLDER_IMAGE,
                                    "securityContext": {"privileged": True, "runAsUser": 0}}]}}
    proc = dry_run_pods(kwok.kubectl, ns, [pod])
    assert proc.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in proc.stderr, proc.stderr
    for violation in ("privileged", "allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile"):
        assert violation in proc.stderr, violation
    # ...and the same pod, made restricted, is admitted: the refusal was about security, not the pod.
    pod["spec"] = {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                   "containers": [{"name": "c", "image": PLACEHOLDER_IMAGE, "securityContext": {
                       "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}
    proc = dry_run_pods(kwok.kubectl, ns, [pod])
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
