"""seldon-model `batch` (issue 20): the Indexed Job that runs Seldon Core's batch processor through the release's own
SeldonDeployment, rendered object by object (PVC and S3 data, sharding, transport, placement, security), every
refusal with the value and the fix, the schema's types for every new value, and the shard program's own logic
(slicing, renumbering, parts, merge) with a fake processor. The real processor: tests/cluster_kind/
test_kind_batch_processor.py (Docker) and test_kind_batch.py (kind)."""
from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import CHARTS, RenderError, assert_valid, find, render, values_errors
from test_seldon_model import _notes

CHART = "seldon-model"
Obj = dict[str, Any]
DEFAULTS = yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())
PVC = {"enabled": True, "input": {"uri": "pvc://batch-data/iris/input.jsonl"}, "output": {"uri": "pvc://batch-data/iris/out"}}
S3 = {"enabled": True, "input": {"uri": "s3://data/iris/input.jsonl"}, "output": {"uri": "s3://results/iris"},
      "envSecretRefName": "batch-s3"}
JOB = "test-seldon-model-batch-1"


def job(batch: Obj, helm: str = "helm4", **values: Any) -> Obj:
    return find(render(CHART, {"batch": batch, **values}, helm=helm), "Job", JOB)


def pod(batch: Obj, **values: Any) -> Obj:
    return job(batch, **values)["spec"]["template"]["spec"]


def arg(container: Obj, flag: str) -> str:
    command = container["command"]
    return command[command.index(flag) + 1]


def error(batch: Obj, helm: str = "helm4", **values: Any) -> str:
    with pytest.raises(RenderError) as err:
        render(CHART, {"batch": batch, **values}, helm=helm)
    return " ".join(err.value.stderr.split())


# ------------------------------------------------------------------ render

@pytest.mark.render
def test_off_by_default() -> None:
    assert not [o for o in render(CHART) if o["kind"] in ("Job", "ConfigMap")]


@pytest.mark.render
def test_pvc_job_is_indexed_restricted_and_calls_the_release(helm: str) -> None:
    rendered = render(CHART, {"batch": {**PVC, "shards": 4, "parallelism": 2, "maxFailedIndexes": 1,
                                        "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 60}}, helm=helm)
    assert_valid(rendered)
    j = find(rendered, "Job", JOB)
    assert {k: j["spec"][k] for k in ("completionMode", "completions", "parallelism", "backoffLimitPerIndex",
                                      "maxFailedIndexes", "activeDeadlineSeconds", "ttlSecondsAfterFinished")} == {
        "completionMode": "Indexed", "completions": 4, "parallelism": 2, "backoffLimitPerIndex": 2,
        "maxFailedIndexes": 1, "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 60}
    labels = j["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "batch" and labels["app.kubernetes.io/instance"] == "test"
    spec = j["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert "initContainers" not in spec
    (shard,) = spec["containers"]
    assert shard["securityContext"]["readOnlyRootFilesystem"] is True and shard["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert shard["resources"]["limits"] and shard["resources"]["requests"]
    assert shard["command"][:2] == ["/opt/seldon/bin/python", "/opt/batch/shard.py"]
    assert arg(shard, "--input") == "/mnt/pvc/batch-data/iris/input.jsonl"
    assert arg(shard, "--input-uri") == "pvc://batch-data/iris/input.jsonl"
    assert arg(shard, "--output-dir") == "/mnt/pvc/batch-data/iris/out"
    assert arg(shard, "--merged-name") == "output.jsonl"
    assert arg(shard, "--shards") == "4"
    assert arg(shard, "--endpoint") == "test-seldon-model-default.default.svc.cluster.local:8000"
    assert arg(shard, "--ready-url") == "http://test-seldon-model-default.default.svc.cluster.local:8000/ready"
    assert {"name": "BATCH_ID", "value": JOB} in shard["env"]
    # one volume for the claim both URIs name
    claims = [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["batch-data"]
    # the program is the chart's file, byte for byte
    config = find(rendered, "ConfigMap", JOB)
    assert config["data"]["shard.py"] == (CHARTS / CHART / "files" / "batch" / "shard.py").read_text()


@pytest.mark.render
def test_every_processor_value_reaches_the_command() -> None:
    (shard,) = pod({**PVC, "transport": "grpc", "dataType": "raw", "payloadType": "tensor", "batchSize": 50,
                    "workers": 8, "retries": 5, "waitSeconds": 30, "logLevel": "info"})["containers"]
    assert [arg(shard, f) for f in ("--transport", "--data-type", "--payload-type", "--batch-size", "--workers",
                                    "--retries", "--wait-seconds", "--log-level")] == \
        ["grpc", "raw", "tensor", "50", "8", "5", "30", "info"]
    assert arg(shard, "--endpoint").endswith(":5001")
    assert arg(shard, "--ready-url").endswith(":8000/ready")   # the executor's HTTP port serves /ready either way


@pytest.mark.render
@pytest.mark.parametrize("protocol", ["v2", "kfserving"])
def test_v2_runs_mlservers_processor_in_the_mlserver_image(protocol: str) -> None:
    (shard,) = pod(PVC, protocol=protocol)["containers"]
    assert shard["image"] == "docker.io/seldonio/mlserver:1.7.1-sklearn"
    assert shard["command"][:2] == ["/opt/mlserver/bin/python", "/opt/batch/shard.py"]
    assert (arg(shard, "--protocol"), arg(shard, "--model")) == ("v2", "classifier")   # the root graph node
    (shard,) = pod({**PVC, "v2": {"model": "iris", "python": "/venv/bin/python",
                                  "image": {"repository": "example/mlserver", "tag": "1"}}}, protocol="v2")["containers"]
    assert (shard["image"], shard["command"][0], arg(shard, "--model")) == ("docker.io/example/mlserver:1", "/venv/bin/python", "iris")
    (seldon,) = pod(PVC)["containers"]
    assert "--protocol" not in seldon["command"] and seldon["image"] == "localhost/ml-serving-charts/iris-model:0.1.0"


@pytest.mark.render
def test_s3_moves_data_with_rclone_and_the_secret() -> None:
    spec = pod(S3)
    init = {c["name"]: c for c in spec["initContainers"]}
    assert list(init) == ["fetch-input", "fetch-parts", "shard"]
    assert init["fetch-input"]["args"] == ["copyto", "s3:data/iris/input.jsonl", "/work/input/input.jsonl"]
    assert init["fetch-parts"]["args"] == ["copy", "s3:results", "/work/s3", "--include", "/iris/parts/part-*.jsonl"]
    assert arg(init["shard"], "--input") == "/work/input/input.jsonl"
    assert arg(init["shard"], "--output-dir") == "/work/s3/iris"
    assert "--merged-name" not in init["shard"]["command"]   # parts only: no shard sees the others' on S3
    (upload,) = spec["containers"]
    assert upload["args"] == ["copy", "/work/s3/iris/parts", "s3:results/iris/parts"]
    for c in (init["fetch-input"], init["fetch-parts"], upload):
        assert c["image"] == "docker.io/seldonio/rclone-storage-initializer:1.17.1"
        assert c["envFrom"] == [{"secretRef": {"name": "batch-s3"}}]
        assert c["securityContext"]["runAsNonRoot"] is True
    assert {v["name"] for v in spec["volumes"]} == {"tmp", "program", "work"}


@pytest.mark.render
def test_global_registry_reaches_both_images() -> None:
    spec = pod(S3, **{"global": {"imageRegistry": "mirror.example.com"}})
    images = {c["name"]: c["image"] for c in spec["initContainers"] + spec["containers"]}
    assert images["shard"] == "mirror.example.com/ml-serving-charts/iris-model:0.1.0"
    assert images["upload"] == "mirror.example.com/seldonio/rclone-storage-initializer:1.17.1"


@pytest.mark.render
def test_gpu_block_places_the_pods_on_the_pool() -> None:
    spec = pod({**PVC, "gpu": {"count": 1, "pool": {"name": "gpu-l4"}}, "tolerations": [{"key": "x", "operator": "Exists"}]})
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert {"key": "x", "operator": "Exists"} in spec["tolerations"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "ml-serving-charts.io/pool", "operator": "In", "values": ["gpu-l4"]} in terms[0]["matchExpressions"]


@pytest.mark.render
def test_batch_predictor_skips_shadows_and_can_be_named() -> None:
    two = [{"name": "main", "graph": {"name": "classifier", "type": "MODEL"},
            "components": {"classifier": {"image": {"repository": "localhost/ml-serving-charts/iris-model", "tag": "0.1.0"}}}},
           {"name": "shadow", "shadow": True, "graph": {"name": "classifier", "type": "MODEL"},
            "components": {"classifier": {"image": {"repository": "localhost/ml-serving-charts/iris-model", "tag": "0.1.0"}}}}]
    (shard,) = pod(PVC, predictors=two)["containers"]
    assert arg(shard, "--endpoint").startswith("test-seldon-model-main.")


REFUSALS = {
    "protocol-tensorflow": ({**PVC}, {"protocol": "tensorflow"},
                            "batch.enabled is true but protocol is tensorflow: the Job runs Seldon Core's batch processor (protocol seldon) or MLServer's (protocol v2)"),
    "v2-grpc": ({**PVC, "transport": "grpc"}, {"protocol": "v2"},
                "batch.transport is grpc but protocol is v2: MLServer's batch processor (mlserver infer) sends over REST only; set batch.transport: rest"),
    "no-input": ({"enabled": True, "output": PVC["output"]}, {},
                 "batch.input.uri is empty: set it to pvc://<claim>/<path>"),
    "output-holds-input": ({**PVC, "output": {"uri": "pvc://batch-data/iris"}}, {},
                           "batch.output.uri (pvc://batch-data/iris) holds batch.input.uri (pvc://batch-data/iris/input.jsonl)"),
    "s3-without-secret": ({**S3, "envSecretRefName": ""}, {},
                          "batch.envSecretRefName is empty but batch.input.uri or batch.output.uri is s3://"),
    "batch-size-json": ({**PVC, "batchSize": 10, "dataType": "json"}, {},
                        "batch.batchSize is 10 but batch.dataType is json"),
    "parallelism": ({**PVC, "shards": 2, "parallelism": 3}, {},
                    "batch.parallelism (3) is greater than batch.shards (2)"),
    "max-failed": ({**PVC, "shards": 2, "maxFailedIndexes": 3}, {},
                   "batch.maxFailedIndexes (3) is greater than batch.shards (2)"),
    "long-name": ({**PVC, "run": "r" * 40}, {"fullnameOverride": "f" * 20},
                  "batch.run: the Job name"),
    "unknown-predictor": ({**PVC, "predictor": "nope"}, {},
                          'batch.predictor is "nope" but there is no predictor of that name that is not a shadow (predictors: default)'),
}


@pytest.mark.render
@pytest.mark.parametrize("rule", sorted(REFUSALS))
def test_refusal_names_the_value_and_the_fix(rule: str, helm: str) -> None:
    batch, values, message = REFUSALS[rule]
    assert message in error(batch, helm, **values)


# ------------------------------------------------------------------ schema

def schema_errors(**batch: Any) -> list[str]:
    values = copy.deepcopy(DEFAULTS)
    values["batch"].update(batch)
    return values_errors(CHART, values)


@pytest.mark.schema
def test_defaults_and_the_scenario_are_valid() -> None:
    assert schema_errors() == []
    scenario = yaml.safe_load((CHARTS.parent / "values" / CHART / "batch.yaml").read_text())["batch"]
    assert schema_errors(**{k: v for k, v in scenario.items() if k not in ("input", "output")},
                         input=scenario["input"], output=scenario["output"]) == []


@pytest.mark.schema
@pytest.mark.parametrize(("batch", "path"), [
    ({"enabled": "yes"}, "batch.enabled"),
    ({"run": "Run_1"}, "batch.run"),
    ({"input": {"uri": "gs://bucket/file"}}, "batch.input.uri"),
    ({"output": {"uri": "/data/out"}}, "batch.output.uri"),
    ({"output": {"uri": "s3://results/"}}, "batch.output.uri"),
    ({"input": {"uri": "pvc://c/f", "path": "x"}}, "batch.input"),
    ({"envSecretRefName": "Bad_Secret"}, "batch.envSecretRefName"),
    ({"transport": "http"}, "batch.transport"),
    ({"dataType": "binary"}, "batch.dataType"),
    ({"payloadType": "list"}, "batch.payloadType"),
    ({"batchSize": 0}, "batch.batchSize"),
    ({"workers": 0}, "batch.workers"),
    ({"retries": 0}, "batch.retries"),
    ({"shards": 0}, "batch.shards"),
    ({"parallelism": 0}, "batch.parallelism"),
    ({"backoffLimitPerIndex": -1}, "batch.backoffLimitPerIndex"),
    ({"maxFailedIndexes": -1}, "batch.maxFailedIndexes"),
    ({"activeDeadlineSeconds": 0}, "batch.activeDeadlineSeconds"),
    ({"ttlSecondsAfterFinished": -1}, "batch.ttlSecondsAfterFinished"),
    ({"waitSeconds": -1}, "batch.waitSeconds"),
    ({"logLevel": "trace"}, "batch.logLevel"),
    ({"image": {"repository": "x"}}, "batch.image"),
    ({"python": "python3"}, "batch.python"),
    ({"v2": {"model": "", "python": "python3", "image": DEFAULTS["batch"]["v2"]["image"]}}, "batch.v2.python"),
    ({"v2": {"model": 1, "python": "/p", "image": DEFAULTS["batch"]["v2"]["image"]}}, "batch.v2.model"),
    ({"v2": {"model": "", "python": "/p", "image": {"repository": "x"}}}, "batch.v2.image"),
    ({"rcloneImage": ""}, "batch.rcloneImage"),
    ({"resources": {"limits": {"cpu": "lots"}}}, "batch.resources.limits.cpu"),
    ({"gpu": {"count": -1}}, "batch.gpu.count"),
    ({"accelerator": {"count": 1}}, "batch.accelerator"),
    ({"nodeSelector": {"a": 1}}, "batch.nodeSelector.a"),
    ({"tolerations": [{"operator": "Maybe"}]}, "batch.tolerations.0.operator"),
    ({"podAnnotations": {"a": 1}}, "batch.podAnnotations.a"),
    ({"unknown": 1}, "batch"),
])
def test_schema_refuses_bad_batch_values(batch: Obj, path: str) -> None:
    found = schema_errors(**batch)
    assert any(e.startswith(f"{path}:") for e in found), found


# ------------------------------------------------------------------ the shard program, without a server

def _shard_module() -> Any:
    spec = importlib.util.spec_from_file_location("batch_shard", CHARTS / CHART / "files" / "batch" / "shard.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["batch_shard"] = module
    spec.loader.exec_module(module)
    return module


shard = _shard_module()


@pytest.mark.render
@pytest.mark.parametrize("total", [0, 1, 3, 10, 10_001])
@pytest.mark.parametrize("shards", [1, 2, 4, 7])
def test_slices_cover_every_line_once(total: int, shards: int) -> None:
    bounds = [shard.slice_bounds(total, i, shards) for i in range(shards)]
    assert bounds[0][0] == 0 and bounds[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [e - s for s, e in bounds]
    assert max(sizes) - min(sizes) <= 1


def _fake_processor(answers: dict[str, Obj], unbatchable: set[str]) -> Any:
    """Stands in for run_processor: answers each row (as the REST path does, tags echoed), but like the real
    mini-batch path writes ONE unnumbered error line for a batch holding a row in `unbatchable`."""
    calls: list[tuple[int, int]] = []

    def run(rows: list[str], args: Any, batch_size: int, workdir: str) -> list[str]:
        calls.append((len(rows), batch_size))
        out = []
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            if batch_size > 1 and unbatchable.intersection(chunk):
                out.append(json.dumps({"status": {"info": "FAILURE", "reason": "shapes differ", "status": 1},
                                       "meta": {"batch_id": "b"}}))
                continue
            for i, row in enumerate(chunk, start):
                answer = answers.get(row, {"data": {"ndarray": [[1.0]]}})
                if "status" in answer:
                    out.append(json.dumps({**answer, "meta": {"batch_id": "b", "batch_index": i}}))
                else:
                    out.append(json.dumps({**answer, "meta": {"tags": {"batch_id": "b", "batch_index": float(i)}}}))
        return list(reversed(out))   # the processor writes in completion order
    return run, calls


@pytest.mark.render
def test_shards_write_parts_merge_in_order_and_skip_on_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rows = [json.dumps([[i, 0, 0, 0]]) for i in range(103)]
    rejected = {"status": {"info": "FAILURE", "reason": "400:BAD REQUEST bad row", "status": 1}}
    bad_shape = json.dumps([[1, 2, 3]])
    rows[50] = bad_shape
    (tmp_path / "in.jsonl").write_text("\n".join(rows) + "\n")
    run, calls = _fake_processor({bad_shape: rejected}, {bad_shape})
    monkeypatch.setattr(shard, "run_processor", run)
    base = ["--input", str(tmp_path / "in.jsonl"), "--output-dir", str(tmp_path / "out"), "--shards", "4",
            "--endpoint", "x:1", "--batch-size", "5", "--merged-name", "output.jsonl", "--workdir", str(tmp_path)]
    reports = []
    for i in (2, 0, 3, 1):
        assert shard.main([*base, "--shard", str(i)]) == 0
        reports.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert [r["merged"] for r in reports] == [False, False, False, True]
    assert sum(r["rows"] for r in reports) == 103 and sum(r["failed"] for r in reports) == 1
    merged = (tmp_path / "out" / "output.jsonl").read_text().splitlines()
    assert [shard.index_of(line) for line in merged] == list(range(103))
    assert json.loads(merged[50])["status"]["reason"] == "400:BAD REQUEST bad row"
    assert json.loads(merged[50])["meta"]["batch_shard"] == 1
    # shard 1 holds the bad row: its batch of 5 failed as one unnumbered line, and those 5 rows went again one by one
    assert (5, 1) in calls
    # a rerun skips every shard: the processor is not called again
    calls.clear()
    assert shard.main([*base, "--shard", "1"]) == 0
    assert json.loads(capsys.readouterr().out.strip())["skipped"] is True and calls == []
    # a part that lost a line is redone
    part = tmp_path / "out" / "parts" / shard.part_name(1, 4)
    part.write_text("\n".join(part.read_text().splitlines()[:-1]) + "\n")
    assert shard.main([*base, "--shard", "1"]) == 0
    assert json.loads(capsys.readouterr().out.strip())["skipped"] is False and calls


@pytest.mark.render
def test_missing_input_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = shard.main(["--input", str(tmp_path / "nope.jsonl"), "--input-uri", "s3://b/nope.jsonl",
                       "--output-dir", str(tmp_path), "--endpoint", "x:1"])
    assert code == 2
    assert f"input file {tmp_path / 'nope.jsonl'} (s3://b/nope.jsonl) does not exist" in capsys.readouterr().err


@pytest.mark.render
def test_networkpolicy_lets_the_batch_pods_call_the_executor() -> None:
    rendered = render(CHART, {"batch": PVC, "networkPolicy": {"enabled": True}})
    policy = find(rendered, "NetworkPolicy")
    callers = [peer for rule in policy["spec"]["ingress"] if {"port": "http", "protocol": "TCP"} in rule.get("ports", [])
               for peer in rule["from"]]
    batch_labels = find(rendered, "Job", JOB)["spec"]["template"]["metadata"]["labels"]
    selectors = [peer["podSelector"]["matchLabels"] for peer in callers if "podSelector" in peer]
    assert {"app.kubernetes.io/name": "seldon-model", "app.kubernetes.io/instance": "test",
            "app.kubernetes.io/component": "batch"} in selectors
    assert all(batch_labels[k] == v for k, v in selectors[-1].items())


@pytest.mark.render
def test_notes_say_how_to_wait_for_and_read_the_job() -> None:
    notes = _notes({"batch": {**PVC, "shards": 4}})
    assert f"kubectl -n default wait --for=condition=complete job/{JOB}" in notes
    assert f"kubectl -n default logs job/{JOB} -c shard" in notes
    assert "merged into pvc://batch-data/iris/out/output.jsonl" in notes
    assert "merged into" not in _notes({"batch": S3})
