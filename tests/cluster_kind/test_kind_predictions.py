"""Real predictions from our model images running as pods on the kind cluster.

The pods are plain Deployments + Services made by the test (msc.stack.SERVERS), labelled as Seldon's
operator labels its pods (app.kubernetes.io/managed-by: seldon-core, container port `metrics`), in a
namespace that enforces the restricted Pod Security Standard. Every call goes from the client pod through
cluster DNS and the pod network. These tests exercise the model images and the cluster network, NOT the
Seldon operator's graph routing: no operator runs here (msc.stack.SELDON_OPERATOR_MISSING); where a graph
is involved (transformer -> model, combiner over two models) the test client plays the executor's part."""
from __future__ import annotations

import pytest

from msc import stack as ks
from kind_support import GPU_POOL, KindEnv, Models

pytestmark = pytest.mark.cluster_kind

EXPECTED = [cls for _, cls in ks.IRIS_ROWS]


def test_model_pods_run_restricted_on_the_cpu_worker(kind: KindEnv, models: Models) -> None:
    """Each model pod is Ready, was admitted by a restricted namespace, and (no GPU toleration) stayed off the GPU worker."""
    assert models.pods, "no model image is built: run scripts/images models"
    gpu_node = kind.node_of_pool(GPU_POOL)
    for name, pod in models.pods.items():
        assert pod["status"]["phase"] == "Running", (name, pod["status"])
        assert pod["spec"]["nodeName"] != gpu_node, f"{name} landed on the GPU worker {gpu_node}"
        assert kind.nodes[pod["spec"]["nodeName"]] == "cpu", (name, pod["spec"]["nodeName"])
        assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "seldon-core"
        assert [p["name"] for p in pod["spec"]["containers"][0]["ports"]] == ["http", "metrics"]
    ns = kind.kubectl.json("get", "namespace", models.namespace)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_iris_model_answers_the_seldon_protocol(kind: KindEnv, models: Models) -> None:
    """iris-model (Seldon Core 1.17.1 python wrapper): three textbook flowers get setosa, versicolor, virginica."""
    models.need(kind, "iris")
    res = ks.call(kind.kubectl, models.namespace, [
        {"name": "predict", "url": ks.SERVERS["iris"].url(models.namespace, "/api/v1.0/predictions"),
         "body": ks.seldon_request()}])
    body = ks.ok(res["predict"], "iris predict")
    assert body["data"]["names"] == ks.CLASSES
    rows = ks.seldon_rows(body)
    assert len(rows) == 3 and all(abs(sum(r) - 1) < 1e-6 for r in rows), rows
    assert ks.argmax_classes(rows) == EXPECTED, rows


def test_iris_model_rejects_a_bad_payload(kind: KindEnv, models: Models) -> None:
    """Three features instead of four: HTTP 400 with the reason, not a 500."""
    models.need(kind, "iris")
    res = ks.call(kind.kubectl, models.namespace, [
        {"name": "bad", "url": ks.SERVERS["iris"].url(models.namespace, "/api/v1.0/predictions"),
         "body": {"data": {"ndarray": [[1, 2, 3]]}}}])["bad"]
    assert res["status"] == 400, res
    assert "features" in str(res["body"]), res


def test_mlserver_answers_the_v2_protocol(kind: KindEnv, models: Models) -> None:
    """mlserver-iris (MLServer 1.7.1, Open Inference / V2): model `classifier` is ready and classifies the three rows."""
    models.need(kind, "mlserver-iris")
    server = ks.SERVERS["mlserver-iris"]
    res = ks.call(kind.kubectl, models.namespace, [
        {"name": "ready", "url": server.url(models.namespace, "/v2/models/classifier/ready")},
        {"name": "proba", "url": server.url(models.namespace, "/v2/models/classifier/infer"),
         "body": ks.v2_request(output="predict_proba")},
        {"name": "predict", "url": server.url(models.namespace, "/v2/models/classifier/infer"),
         "body": ks.v2_request(output="predict")}])
    assert res["ready"]["status"] == 200, res["ready"]
    proba = ks.v2_rows(ks.ok(res["proba"], "V2 predict_proba"))
    assert ks.argmax_classes(proba) == EXPECTED, proba
    assert all(abs(sum(r) - 1) < 1e-6 for r in proba), proba
    labels = [int(r[0]) for r in ks.v2_rows(ks.ok(res["predict"], "V2 predict"))]
    assert [ks.CLASSES[i] for i in labels] == EXPECTED, labels


def test_transformer_then_model_pod_to_pod(kind: KindEnv, models: Models) -> None:
    """transformer -> model over Services: the client sends millimetres as named objects to the transformer
    (input_unit=mm), passes its answer on to the model pod, and gets the right classes. The client does the
    executor's forwarding; this proves the images and the pod network, not the operator's routing."""
    models.need(kind, "iris", "iris-transformer")
    ns = models.namespace
    records = [{f: round(v * 10, 3) for f, v in zip(ks.FEATURES, row)} for row, _ in ks.IRIS_ROWS]
    res = ks.call(kind.kubectl, ns, [
        {"name": "transform", "url": ks.SERVERS["iris-transformer"].url(ns, "/transform-input"),
         "body": {"jsonData": records}}])
    transformed = ks.ok(res["transform"], "transformer")
    res |= ks.call(kind.kubectl, ns, [
        {"name": "predict", "url": ks.SERVERS["iris"].url(ns, "/api/v1.0/predictions"),
         "body": {"data": transformed["data"]}}])
    assert transformed["meta"]["tags"]["iris-transformer.input-unit"] == "mm"
    assert transformed["meta"]["tags"]["iris-transformer.rows"] == 3
    cm = ks.seldon_rows(transformed)
    assert all(abs(a - b) < 1e-6 for got, (want, _) in zip(cm, ks.IRIS_ROWS) for a, b in zip(got, want)), cm
    rows = ks.seldon_rows(ks.ok(res["predict"], "model after transformer"))
    assert ks.argmax_classes(rows) == EXPECTED, rows


def test_combiner_averages_two_model_pods(kind: KindEnv, models: Models) -> None:
    """Combiner over two model pods: the client asks both model Services, hands both answers to the
    combiner's /aggregate, and gets their average with the right classes. Pod-to-pod calls; not the
    operator's graph routing."""
    models.need(kind, "iris", "iris-b", "iris-combiner")
    ns = models.namespace
    assert models.pods["iris"]["metadata"]["name"] != models.pods["iris-b"]["metadata"]["name"]
    # the second model gets the columns in another order (named): a different request, the same flowers
    reordered = {"data": {"names": list(reversed(ks.FEATURES)),
                          "ndarray": [list(reversed(row)) for row, _ in ks.IRIS_ROWS]}}
    res = ks.call(kind.kubectl, ns, [
        {"name": "a", "url": ks.SERVERS["iris"].url(ns, "/api/v1.0/predictions"), "body": ks.seldon_request()},
        {"name": "b", "url": ks.SERVERS["iris-b"].url(ns, "/api/v1.0/predictions"), "body": reordered}])
    answers = [ks.ok(res["a"], "model a"), ks.ok(res["b"], "model b")]
    a, b = (ks.seldon_rows(m) for m in answers)
    combined = ks.ok(ks.call(kind.kubectl, ns, [
        {"name": "combined", "url": ks.SERVERS["iris-combiner"].url(ns, "/aggregate"),
         "body": {"seldonMessages": answers}}])["combined"], "combiner")
    assert combined["meta"]["tags"]["iris-combiner.members"] == 2
    assert combined["data"]["names"] == ks.CLASSES
    rows = ks.seldon_rows(combined)
    want = [[(x + y) / 2 for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]
    assert all(abs(g - w) < 1e-9 for gr, wr in zip(rows, want) for g, w in zip(gr, wr)), (rows, want)
    assert ks.argmax_classes(rows) == EXPECTED, rows
