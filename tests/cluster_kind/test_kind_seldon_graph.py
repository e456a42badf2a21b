"""Predictions through real Seldon inference graphs: the seldon-operator chart (operator + executor
1.17.1) reconciles seldon-model releases (values/seldon-model/transformer.yaml and combiner.yaml, our
iris images) in a restricted namespace, and each release's `helm test` predicts through the executor.

The operator and executor images are built from the verified source by `scripts/images all` (scripts/test),
with the patch that gives the containers the operator injects a restricted securityContext (without it no model
pod is admitted in the restricted namespace)."""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from msc import stack as ks
from harness import VALUES, require_built
from harness.cluster import Helm
from kind_support import KindEnv

pytestmark = pytest.mark.cluster_kind

OPERATOR_NAMESPACE = "seldon-system"


def _image(ref: str) -> dict:
    repository, tag = ref.rsplit(":", 1)
    return {"registry": "", "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


@pytest.fixture(scope="module")
def seldon_operator(kind: KindEnv, helm_cli: Helm) -> Iterator[str]:
    require_built(ks.seldon_operator_available(), ks.SELDON_OPERATOR_MISSING)
    release = f"seldon-{kind.token}"
    operator, executor = ks.SELDON_OPERATOR_IMAGES
    helm_cli.install(release, "seldon-operator", OPERATOR_NAMESPACE, create_namespace=True, wait=True,
                     values={"image": _image(operator), "executor": {"image": _image(executor)}})
    try:
        yield release
    finally:
        helm_cli.uninstall(release, OPERATOR_NAMESPACE, check=False)


@pytest.mark.parametrize("scenario", ["transformer", "combiner"])
def test_graph_predicts_through_the_executor(kind: KindEnv, helm_cli: Helm, seldon_operator: str,
                                             make_namespace: Callable[..., str], scenario: str) -> None:
    kind.require("iris-model", "iris-transformer", "iris-combiner", "helm-test-client")
    namespace = make_namespace(f"kind-sdep-{scenario}")
    release = f"iris-{scenario}"
    helm_cli.install(release, "seldon-model", namespace, values_files=[VALUES / "seldon-model" / f"{scenario}.yaml"],
                     wait=True)
    proc = helm_cli.run("test", release, "--namespace", namespace, "--logs", "--timeout", "300s", check=False,
                        timeout=360)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HTTP 200" in proc.stdout, proc.stdout
