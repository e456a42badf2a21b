"""Batch inference through the real operator and executor (seldon-model `batch`, issue 20): one seldon-model release
(the iris model, values/seldon-model/batch.yaml's graph) in a restricted namespace, reconciled by the operator
built from source; each test `helm upgrade`s it with a new `batch.run`, so the chart renders a new Indexed Job
(Helm deletes the previous one) that streams a JSON-lines file from a PersistentVolumeClaim through the
executor's Service with Seldon Core's batch processor (the chart's files/batch/shard.py in the iris-model image).

- 10,000 iris rows in, 10,000 correct answers out in input order, every batch_index once (REST);
- 4 shards (gRPC, 10 rows a request) give the output of 1;
- a row the model rejects is written with its error and the other rows are answered;
- a shard pod killed while it works is retried alone (backoffLimitPerIndex) and the output is still complete;
- a missing input file fails the Job, the pod's log naming the file;
- input and output on S3 (`rclone serve s3` in the namespace, credentials from batch.envSecretRefName): the parts
  uploaded hold one correct answer per input line;
- protocol v2 (values/seldon-model/v2-mlserver.yaml): MLServer's processor through the executor, a rejected row.
The claim is bound to a local PersistentVolume on the CPU worker (a folder of that node, written and read with
`docker exec`), as test_kind_seldon_serving.py's pvc:// models. Rows/s through the executor are printed (-s).

Written without a kind cluster at hand (the Docker-level twin, test_kind_batch_processor.py, ran): check the
fixture wiring on the first run."""
from __future__ import annotations

import json
import secrets
import subprocess
import time
from typing import Any, Callable, Iterator

import pytest
import yaml

from msc import batch, stack as ks
from msc.proc import wait_until
from harness import VALUES
from harness.cluster import Helm
from kind_support import CPU_POOL, KindEnv, install_model, small_graph, wait_available

pytestmark = pytest.mark.cluster_kind
Obj = dict[str, Any]

DATA_DIR = "/var/local/msc-batch"   # on the CPU worker: the local PersistentVolume behind the claim
CLAIM = "batch-data"
ROWS = batch.iris_input(10_000)
BATCH_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def node_exec(node: str, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["docker", "exec", "-i", node, *args], input=stdin, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"docker exec {node} {' '.join(args)}: {proc.stderr[-500:]}"
    return proc.stdout


def put(node: str, path: str, text: str) -> None:
    """Write a file on the node (inside the PV folder), readable by the pods' user 65532."""
    node_exec(node, "mkdir", "-p", path.rsplit("/", 1)[0])
    node_exec(node, "tee", path, stdin=text)
    node_exec(node, "chmod", "-R", "a+rwX", DATA_DIR)


def read_lines(node: str, path: str) -> list[str]:
    return node_exec(node, "cat", path).splitlines()


@pytest.fixture(scope="module")
def batch_env(kind: KindEnv, helm_cli: Helm, seldon_operator: str, make_namespace: Callable[..., str]) -> Iterator[Obj]:
    """The release `iris-batch` (batch off) Available in a restricted namespace, the claim bound to the local PV.
    {namespace, node, release, values, sdep}."""
    kind.require("iris-model")
    node = kind.node_of_pool(CPU_POOL)
    namespace = make_namespace("kind-batch")
    pv = f"msc-batch-{kind.token}"
    node_exec(node, "mkdir", "-p", DATA_DIR)
    node_exec(node, "chmod", "a+rwx", DATA_DIR)
    ks.apply(kind.kubectl, [
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "msc-local",
                  "persistentVolumeReclaimPolicy": "Retain", "local": {"path": DATA_DIR},
                  "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                      {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": CLAIM, "namespace": namespace},
         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "msc-local", "volumeName": pv,
                  "resources": {"requests": {"storage": "1Gi"}}}}])
    values = yaml.safe_load((VALUES / "seldon-model" / "batch.yaml").read_text())
    values["batch"] = {"enabled": False}
    release = "iris-batch"
    sdep = install_model(kind, helm_cli, namespace, release, values)
    wait_available(kind, sdep["metadata"]["name"], namespace)
    try:
        yield {"namespace": namespace, "node": node, "release": release, "values": values, "sdep": sdep}
    finally:
        helm_cli.uninstall(release, namespace, wait=False, check=False)
        kind.kubectl("delete", "pv", pv, "--wait=false", "--ignore-not-found", check=False)
        subprocess.run(["docker", "exec", node, "rm", "-rf", DATA_DIR], capture_output=True)


def start_job(kind: KindEnv, helm_cli: Helm, env: Obj, run: str, rows_text: str | None, **settings: Any) -> str:
    """Write the input (unless None) to <run>/input.jsonl on the claim and upgrade the release with a batch Job of
    that run reading it and writing <run>/output; returns the Job's name."""
    if rows_text is not None:
        put(env["node"], f"{DATA_DIR}/{run}/input.jsonl", rows_text)
    values = small_graph(env["values"])
    values["batch"] = {"enabled": True, "run": run, "resources": BATCH_RESOURCES, "waitSeconds": 300,
                       "input": {"uri": f"pvc://{CLAIM}/{run}/input.jsonl"},
                       "output": {"uri": f"pvc://{CLAIM}/{run}/output"}, **settings}
    helm_cli.upgrade(env["release"], "seldon-model", env["namespace"], values=values)
    return f"{env['sdep']['metadata']['name']}-batch-{run}"


def wait_job(kind: KindEnv, namespace: str, job: str, timeout: float = 900) -> Obj:
    """The Job once it is Complete or Failed (its status)."""
    def finished() -> Obj | None:
        status = kind.kubectl.json("get", "job", job, "-n", namespace).get("status", {})
        done = {c["type"] for c in status.get("conditions", []) if c.get("status") == "True"}
        return status if done & {"Complete", "Failed"} else None
    try:
        return wait_until(finished, timeout, f"Job {namespace}/{job}", interval=3)
    except TimeoutError as err:
        pods = kind.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout
        raise AssertionError(f"{err}\n{pods}\n{kind.kubectl('describe', 'job', job, '-n', namespace, check=False).stdout[-3000:]}") from err


def shard_reports(kind: KindEnv, namespace: str, job: str) -> list[Obj]:
    pods = kind.kubectl.json("get", "pods", "-n", namespace, "-l", f"job-name={job}")["items"]
    found = []
    for pod in pods:
        logs = kind.kubectl("logs", pod["metadata"]["name"], "-n", namespace, "-c", "shard", check=False).stdout
        found += batch.reports(logs)
    return found


def complete(status: Obj) -> bool:
    return any(c["type"] == "Complete" and c["status"] == "True" for c in status.get("conditions", []))


def test_ten_thousand_rows_rest(kind: KindEnv, helm_cli: Helm, batch_env: Obj) -> None:
    t0 = time.monotonic()
    job = start_job(kind, helm_cli, batch_env, "rest1", batch.input_lines(ROWS), shards=1, transport="rest")
    status = wait_job(kind, batch_env["namespace"], job)
    seconds = time.monotonic() - t0
    assert complete(status), status
    summary = batch.check_output(read_lines(batch_env["node"], f"{DATA_DIR}/rest1/output/output.jsonl"), ROWS)
    assert summary["batch_ids"] == [job], summary
    (report,) = [r for r in shard_reports(kind, batch_env["namespace"], job) if not r.get("skipped")]
    assert (report["rows"], report["failed"]) == (10_000, 0), report
    print(f"\nkind, 1 shard REST through the executor: {report['rows_per_s']} rows/s in the shard, "
          f"{seconds:.0f} s from helm upgrade to Complete")


def test_four_shards_grpc_give_the_output_of_one(kind: KindEnv, helm_cli: Helm, batch_env: Obj) -> None:
    t0 = time.monotonic()
    job = start_job(kind, helm_cli, batch_env, "grpc4", batch.input_lines(ROWS), shards=4, transport="grpc",
                    batchSize=10, workers=2)
    status = wait_job(kind, batch_env["namespace"], job)
    assert complete(status), status
    merged = read_lines(batch_env["node"], f"{DATA_DIR}/grpc4/output/output.jsonl")
    assert batch.check_output(merged, ROWS)["shards"] == [0, 1, 2, 3]
    parts = [read_lines(batch_env["node"], f"{DATA_DIR}/grpc4/output/parts/part-0000{i}-of-00004.jsonl") for i in range(4)]
    assert [line for part in parts for line in part] == merged
    reports = shard_reports(kind, batch_env["namespace"], job)
    print(f"\nkind, 4 shards gRPC (10 rows a request): {sum(r['rows_per_s'] or 0 for r in reports):.0f} rows/s summed "
          f"over shards, {time.monotonic() - t0:.0f} s from helm upgrade to Complete")
    # the same answers as one REST shard (test_ten_thousand_rows_rest's output, when it ran first)
    single = subprocess.run(["docker", "exec", batch_env["node"], "cat", f"{DATA_DIR}/rest1/output/output.jsonl"],
                            capture_output=True, text=True)
    if single.returncode == 0:
        flat = [p for line in merged for p in json.loads(line)["data"]["ndarray"][0]]
        assert flat == pytest.approx([p for line in single.stdout.splitlines()
                                      for p in json.loads(line)["data"]["ndarray"][0]], rel=1e-9)


def test_a_rejected_row_is_reported_and_the_rest_answered(kind: KindEnv, helm_cli: Helm, batch_env: Obj) -> None:
    rows = ROWS[:500]
    lines = batch.input_lines(rows).splitlines()
    lines[123] = json.dumps([rows[123][0][:3]])
    job = start_job(kind, helm_cli, batch_env, "rejected", "\n".join(lines) + "\n", shards=2)
    status = wait_job(kind, batch_env["namespace"], job)
    assert complete(status), status
    merged = read_lines(batch_env["node"], f"{DATA_DIR}/rejected/output/output.jsonl")
    batch.check_output(merged, rows, rejected={123})
    reason = json.loads(merged[123])["status"]["reason"]
    # through the executor the model's 400 comes back as the executor's answer: its text names the shape
    assert "400" in reason or "features" in reason, reason


def test_a_killed_shard_is_retried_alone(kind: KindEnv, helm_cli: Helm, batch_env: Obj) -> None:
    """40,000 rows in 4 shards of one worker each (long enough to kill one mid-run): the pod of index 1 is deleted
    once it runs; the Job makes a new pod for index 1 only, and the output is still complete and correct."""
    namespace = batch_env["namespace"]
    rows = batch.iris_input(40_000)
    job = start_job(kind, helm_cli, batch_env, "killed", batch.input_lines(rows), shards=4, workers=1,
                    backoffLimitPerIndex=2)

    def index_pods(index: str) -> list[Obj]:
        pods = kind.kubectl.json("get", "pods", "-n", namespace, "-l", f"job-name={job}")["items"]
        return [p for p in pods if p["metadata"].get("annotations", {}).get("batch.kubernetes.io/job-completion-index") == index]

    victim = wait_until(lambda: next((p for p in index_pods("1") if p.get("status", {}).get("phase") == "Running"), None),
                        300, f"a running pod of index 1 of Job {job}", interval=1)
    time.sleep(5)   # it is sending: the shard waits for /ready (up at once), then works for tens of seconds
    others = {i: [p["metadata"]["uid"] for p in index_pods(str(i))] for i in (0, 2, 3)}
    kind.kubectl("delete", "pod", victim["metadata"]["name"], "-n", namespace, "--grace-period=0", "--force",
                 "--wait=false")
    status = wait_job(kind, namespace, job, timeout=1800)
    assert complete(status), status
    assert status.get("failed") == 1, status          # the killed pod, counted against index 1 only
    # index 1 ran again in a new pod; the other indexes kept the pods they had (none was retried)
    (again,) = index_pods("1")
    assert again["metadata"]["uid"] != victim["metadata"]["uid"], again["metadata"]
    assert {i: [p["metadata"]["uid"] for p in index_pods(str(i))] for i in (0, 2, 3)} == others
    batch.check_output(read_lines(batch_env["node"], f"{DATA_DIR}/killed/output/output.jsonl"), rows)


def test_a_missing_input_fails_the_job_naming_it(kind: KindEnv, helm_cli: Helm, batch_env: Obj) -> None:
    namespace = batch_env["namespace"]
    job = start_job(kind, helm_cli, batch_env, "missing", None, shards=1, backoffLimitPerIndex=0)
    status = wait_job(kind, namespace, job, timeout=300)
    assert not complete(status) and status.get("failed") == 1, status
    logs = kind.kubectl("logs", f"job/{job}", "-n", namespace, "-c", "shard", check=False)
    assert (f"input file /mnt/pvc/{CLAIM}/missing/input.jsonl (pvc://{CLAIM}/missing/input.jsonl) does not exist"
            in logs.stdout + logs.stderr), logs


STORE_PORT = 8333


def s3_store_objects(namespace: str, rows_text: str, access: str, secret: str) -> list[Obj]:
    """A writable `rclone serve s3` (bucket `batch`) whose init container puts the input (a ConfigMap) at
    batch/iris/input.jsonl, and the Secret the Job's rclone containers read (RCLONE_CONFIG_S3_*)."""
    labels = {"app.kubernetes.io/name": "batch-s3"}
    rclone = ks.APP_IMAGES["rclone-storage-initializer"]
    env = [{"name": "HOME", "value": "/tmp"}, {"name": "RCLONE_CACHE_DIR", "value": "/tmp/rclone"}]
    hardened = {"imagePullPolicy": "IfNotPresent", "securityContext": ks.RESTRICTED_CONTAINER,
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}
    pod = {"securityContext": ks.RESTRICTED_POD, "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
           "initContainers": [{**hardened, "name": "put-input", "image": rclone, "command": ["rclone"], "env": env,
                               # --copy-links: a ConfigMap's file is a symlink, which rclone skips
                               "args": ["copyto", "--copy-links", "/input/input.jsonl", "/data/batch/iris/input.jsonl"],
                               "volumeMounts": [{"name": "input", "mountPath": "/input"}, {"name": "data", "mountPath": "/data"},
                                                {"name": "tmp", "mountPath": "/tmp"}]}],
           "containers": [{**hardened, "name": "s3", "image": rclone, "command": ["rclone"],
                           "args": ["serve", "s3", "--auth-key", f"{access},{secret}", "--addr", f":{STORE_PORT}", "/data"],
                           "env": env, "ports": [{"name": "s3", "containerPort": STORE_PORT}],
                           "readinessProbe": {"tcpSocket": {"port": "s3"}, "periodSeconds": 2},
                           "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}]}],
           "volumes": [{"name": "input", "configMap": {"name": "batch-s3-input"}}, {"name": "data", "emptyDir": {}},
                       {"name": "tmp", "emptyDir": {}}]}
    endpoint = f"http://batch-s3.{namespace}.svc.cluster.local:{STORE_PORT}"
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "batch-s3-input", "namespace": namespace},
         "data": {"input.jsonl": rows_text}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "batch-s3", "namespace": namespace},
         "stringData": {"RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other",
                        "RCLONE_CONFIG_S3_ENV_AUTH": "false", "RCLONE_CONFIG_S3_ENDPOINT": endpoint,
                        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": access, "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": secret}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "batch-s3", "namespace": namespace, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "batch-s3", "namespace": namespace, "labels": labels},
         "spec": {"selector": labels, "ports": [{"name": "s3", "port": STORE_PORT, "targetPort": "s3"}]}},
    ]


def test_s3_input_and_output_through_rclone(kind: KindEnv, helm_cli: Helm, batch_env: Obj) -> None:
    """2 shards read s3://batch/iris/input.jsonl and upload their parts to s3://batch/iris/output/parts/ (parts only
    on S3: no shard sees the others'); read back from the store's own folder, in shard order they are the output."""
    kind.require("rclone-storage-initializer")
    namespace = batch_env["namespace"]
    rows = ROWS[:2_000]
    ks.apply(kind.kubectl, s3_store_objects(namespace, batch.input_lines(rows), secrets.token_hex(8), secrets.token_hex(16)))
    ks.rollout(kind.kubectl, namespace, "deployment/batch-s3", 180)
    values = small_graph(batch_env["values"])
    values["batch"] = {"enabled": True, "run": "s3", "resources": BATCH_RESOURCES, "shards": 2,
                       "input": {"uri": "s3://batch/iris/input.jsonl"}, "output": {"uri": "s3://batch/iris/output"},
                       "envSecretRefName": "batch-s3"}
    helm_cli.upgrade(batch_env["release"], "seldon-model", namespace, values=values)
    job = f"{batch_env['sdep']['metadata']['name']}-batch-s3"
    status = wait_job(kind, namespace, job)
    assert complete(status), status
    lines = []
    for shard in range(2):
        cat = kind.kubectl("exec", "deploy/batch-s3", "-n", namespace, "-c", "s3", "--", "rclone", "cat",
                           f"/data/batch/iris/output/parts/part-0000{shard}-of-00002.jsonl")
        lines += cat.stdout.splitlines()
    batch.check_output(lines, rows)


def test_v2_protocol_through_mlservers_processor(kind: KindEnv, helm_cli: Helm, batch_env: Obj) -> None:
    """values/seldon-model/v2-mlserver.yaml (protocol v2, mlserver-iris) as a second release on the same claim: its
    Job runs MLServer's batch processor (seldonio/mlserver:1.7.1-sklearn) over REST through the executor's
    /v2/models/classifier/infer, 2,000 rows in 2 shards of 10-row requests, one row rejected with MLServer's message."""
    kind.require("mlserver-iris", "mlserver-sklearn")
    namespace, node = batch_env["namespace"], batch_env["node"]
    rows = ROWS[:2_000]
    lines = batch.input_lines(rows, "v2").splitlines()
    request = json.loads(lines[99])
    request["inputs"][0].update(shape=[1, 3], data=rows[99][0][:3])
    lines[99] = json.dumps(request)
    put(node, f"{DATA_DIR}/v2/input.jsonl", "\n".join(lines) + "\n")
    values = yaml.safe_load((VALUES / "seldon-model" / "v2-mlserver.yaml").read_text())
    values["batch"] = {"enabled": True, "run": "v2", "resources": BATCH_RESOURCES, "shards": 2, "batchSize": 10,
                       "input": {"uri": f"pvc://{CLAIM}/v2/input.jsonl"}, "output": {"uri": f"pvc://{CLAIM}/v2/output"}}
    sdep = install_model(kind, helm_cli, namespace, "iris-batch-v2", values)
    try:
        wait_available(kind, sdep["metadata"]["name"], namespace)
        job = f"{sdep['metadata']['name']}-batch-v2"
        status = wait_job(kind, namespace, job)
        assert complete(status), status
        merged = read_lines(node, f"{DATA_DIR}/v2/output/output.jsonl")
        assert batch.check_output(merged, rows, rejected={99})["batch_ids"] == [job]
        # check_output requires a message; through the executor its wording is the executor's
        print(f"\nv2 rejected row: {json.loads(merged[99])['error']}")
    finally:
        helm_cli.uninstall("iris-batch-v2", namespace, wait=False, check=False)
