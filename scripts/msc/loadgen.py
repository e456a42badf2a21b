"""Fixed-rate load from inside a cluster, for the fault, autoscaling and serving-benchmark tests: a LoadSpec says
what to send, job_manifest() makes the Kubernetes Job that sends it (the localhost/ml-serving-charts/loadgen image: vegeta
for REST, ghz for gRPC, restricted Pod Security), and parse_result() reads the ONE JSON document the Job prints
(msc/loadgen_run.py, its entry program) into a LoadResult, every request's outcome in sending order.

    spec = loadgen.seldon_rest("http://iris-default.models.svc:8000", rate=20, duration=60)
    loadgen.start(kubectl, spec, "load-upgrade", namespace)      # the Job runs while the test breaks things
    loadgen.wait_sending(kubectl, "load-upgrade", namespace)     # its pod runs: requests are flowing
    t0 = time.time(); helm.upgrade(...); t1 = time.time()
    result = loadgen.wait(kubectl, "load-upgrade", namespace)    # waits for the Job, reads its log, deletes it
    during = result.window(t0, t1)
    assert result.failed == 0, result.describe_failures()
    print(during.describe())   # "sent 120, failed 0, p50 3.6 ms, p99 15.0 ms, ..."
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from . import loadgen_run
from .images.apps import APP_IMAGES
from .iris import FEATURES, IRIS_ROWS, seldon_request
from .kube import Kubectl
from .proc import MscError, wait_until
from .stack import FIELD_MANAGER, RESTRICTED_CONTAINER, RESTRICTED_POD

Obj = dict[str, Any]
IMAGE = APP_IMAGES["loadgen"]
PROTOCOLS = ("rest", "grpc")
LABELS = {"app.kubernetes.io/name": "loadgen", "app.kubernetes.io/part-of": "ml-serving-charts-tests"}
# CPU for vegeta/ghz and the summary: 20-200 rps needs a fraction of a core; memory holds every result
RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
START_GRACE_S = 120   # scheduling and image start before the first request, part of the Job's deadline


class LoadgenError(MscError):
    """A load run that could not send its requests, or whose answer is not the loadgen's JSON."""


@dataclass(frozen=True)
class LoadSpec:
    """One load run; the fields are loadgen_run.py's argv[1] (its docstring says what each means)."""
    protocol: str                       # rest | grpc
    target: str                         # rest: URL; grpc: host:port
    rate: int = 20                      # requests per second, open loop
    duration: float = 15.0              # seconds
    max_requests: int | None = None     # ends the run earlier
    timeout: float = 5.0                # seconds per request
    body: Any = None                    # rest: JSON body; grpc: the request message as JSON
    method: str = ""                    # rest: default POST with a body, GET without
    headers: dict[str, str] = field(default_factory=dict)
    proto: str = "seldon"               # grpc: seldon | v2 (/protos in the image)
    call: str = ""                      # grpc: default seldon.protos.Seldon/Predict or inference.../ModelInfer
    metadata: dict[str, str] = field(default_factory=dict)
    connections: int = 1                # grpc
    concurrency: int = 50               # grpc workers sharing the rate
    bucket: float = 1.0                 # seconds per time bucket in the result

    def __post_init__(self) -> None:
        problems = []
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol {self.protocol!r} is not one of {PROTOCOLS}")
        if not isinstance(self.rate, int) or self.rate < 1:
            problems.append(f"rate {self.rate!r} must be an integer >= 1 (requests per second)")
        if self.duration <= 0 or self.timeout <= 0 or self.bucket <= 0:
            problems.append("duration, timeout and bucket must be > 0 seconds")
        if self.max_requests is not None and self.max_requests < 1:
            problems.append(f"max_requests {self.max_requests} must be >= 1 (or None)")
        if self.protocol == "rest" and not self.target.startswith(("http://", "https://")):
            problems.append(f"a rest target is a URL, not {self.target!r}")
        if self.protocol == "grpc" and ("://" in self.target or ":" not in self.target):
            problems.append(f"a grpc target is host:port, not {self.target!r}")
        if self.protocol == "grpc" and self.proto not in loadgen_run.PROTOS:
            problems.append(f"proto {self.proto!r}: the image has {sorted(loadgen_run.PROTOS)}")
        if problems:
            raise LoadgenError("bad LoadSpec: " + "; ".join(problems))

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in (None, "", {})} | {"body": self.body})

    @property
    def requests(self) -> int:
        """How many requests the run sends."""
        return loadgen_run.request_count(asdict(self))

    @property
    def seconds(self) -> float:
        """The longest the sending can take: every request sent, the last one timing out."""
        return self.requests / self.rate + self.timeout


def rest(url: str, body: Any = None, **kw: Any) -> LoadSpec:
    return LoadSpec("rest", url, body=body, **kw)


def grpc(target: str, body: Any, proto: str = "seldon", call: str = "", **kw: Any) -> LoadSpec:
    return LoadSpec("grpc", target, body=body, proto=proto, call=call, **kw)


def iris_rows(batch: int = 1) -> list[list[float]]:
    """`batch` iris rows (the three textbook flowers, repeated)."""
    return [IRIS_ROWS[i % len(IRIS_ROWS)][0] for i in range(batch)]


def seldon_rest(base_url: str, batch: int = 1, **kw: Any) -> LoadSpec:
    """POST {base_url}/api/v1.0/predictions with an iris ndarray (a Seldon executor or a python-wrapper model)."""
    return rest(base_url.rstrip("/") + "/api/v1.0/predictions", seldon_request(iris_rows(batch)), **kw)


def seldon_grpc(target: str, batch: int = 1, **kw: Any) -> LoadSpec:
    """seldon.protos.Seldon/Predict with an iris ndarray."""
    return grpc(target, seldon_request(iris_rows(batch)), **kw)


def v2_rest(base_url: str, model: str, batch: int = 1, **kw: Any) -> LoadSpec:
    """POST {base_url}/v2/models/{model}/infer (Open Inference Protocol) with iris rows as one FP64 tensor."""
    rows = iris_rows(batch)
    body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(rows), len(FEATURES)],
                        "data": [x for r in rows for x in r]}]}
    return rest(f"{base_url.rstrip('/')}/v2/models/{model}/infer", body, **kw)


def v2_grpc(target: str, model: str, batch: int = 1, **kw: Any) -> LoadSpec:
    """inference.GRPCInferenceService/ModelInfer with iris rows as one FP64 tensor."""
    rows = iris_rows(batch)
    body = {"model_name": model, "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(rows), len(FEATURES)],
                                             "contents": {"fp64_contents": [x for r in rows for x in r]}}]}
    return grpc(target, body, proto="v2", **kw)


# ------------------------------------------------------------------ the result

@dataclass(frozen=True)
class Outcome:
    """One request: when it was sent (unix seconds), how long it took, its HTTP status or gRPC code, its error."""
    t: float
    latency_ms: float
    code: str
    error: str

    @property
    def ok(self) -> bool:
        return loadgen_run.succeeded(self.code)


@dataclass(frozen=True)
class Latency:
    p50: float
    p90: float
    p99: float
    max: float
    mean: float


@dataclass(frozen=True)
class LoadResult:
    protocol: str
    target: str
    rate: int
    planned: int
    started: float                       # unix seconds, the first request
    elapsed_s: float
    sent: int
    succeeded: int
    failed: int
    throughput_rps: float                # successful requests per second
    codes: dict[str, int]                # HTTP status ("0": no answer) or gRPC code -> requests
    errors: dict[str, int]               # error message -> requests (the 20 commonest)
    latency_ms: Latency                  # over every request, failed ones included
    buckets: list[Obj]                   # [{t (s after started), sent, failed, p99_ms}] per bucket_s
    bucket_s: float
    requests: list[Outcome]              # in sending order

    def failures(self) -> list[Outcome]:
        return [r for r in self.requests if not r.ok]

    def window(self, start: float, end: float) -> LoadResult:
        """The requests sent in [start, end) (unix seconds, e.g. time.time() around a fault), summarised alone."""
        rows = [[r.t - self.started, r.latency_ms, r.code, r.error] for r in self.requests if start <= r.t < end]
        return _result({"protocol": self.protocol, "target": self.target, "rate": self.rate, "planned": len(rows),
                        **loadgen_run.summary(rows, self.started, self.bucket_s), "requests": rows})

    def describe(self) -> str:
        lat = self.latency_ms
        return (f"{self.protocol} {self.target} at {self.rate}/s: sent {self.sent}, failed {self.failed}, "
                f"p50 {lat.p50:.1f} ms, p90 {lat.p90:.1f} ms, p99 {lat.p99:.1f} ms, max {lat.max:.1f} ms, "
                f"{self.throughput_rps:.1f} ok/s, codes {self.codes}")

    def describe_failures(self, limit: int = 10) -> str:
        failures = self.failures()
        lines = [f"{r.t - self.started:8.3f}s {r.code} {r.latency_ms:.1f} ms {r.error[:200]}" for r in failures[:limit]]
        more = f"\n... and {len(failures) - limit} more" if len(failures) > limit else ""
        return f"{self.describe()}\n{len(failures)} failed requests (s after start, code, latency, error):\n" + \
            "\n".join(lines) + more


def _result(doc: Obj) -> LoadResult:
    fields = doc.get("request_fields", loadgen_run.REQUEST_FIELDS)
    if fields != loadgen_run.REQUEST_FIELDS:
        raise LoadgenError(f"loadgen result rows are {fields}, this package reads {loadgen_run.REQUEST_FIELDS}: "
                           "rebuild the image (scripts/images loadgen)")
    started = doc["started"]
    return LoadResult(
        protocol=doc["protocol"], target=doc["target"], rate=doc["rate"], planned=doc["planned"], started=started,
        elapsed_s=doc["elapsed_s"], sent=doc["sent"], succeeded=doc["succeeded"], failed=doc["failed"],
        throughput_rps=doc["throughput_rps"], codes=doc["codes"], errors=doc["errors"],
        latency_ms=Latency(**doc["latency_ms"]), buckets=doc["buckets"], bucket_s=doc["bucket_s"],
        requests=[Outcome(started + t, ms, code, error) for t, ms, code, error in doc["requests"]])


def parse_result(output: str) -> LoadResult:
    """The LoadResult in a loadgen run's output (its log: the last line that is the loadgen's JSON document).
    Raises LoadgenError with the tool's own message when the run could not send (e.g. ghz could not connect)."""
    for line in reversed(output.strip().splitlines()):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("format") == loadgen_run.FORMAT:
            if "error" in doc:
                raise LoadgenError(f"loadgen {doc['protocol']} {doc['target']}: {doc['error']}")
            return _result(doc)
    raise LoadgenError(f"no loadgen result (format {loadgen_run.FORMAT}) in its output:\n{output.strip()[-1500:]}")


# ------------------------------------------------------------------ in a cluster

def pod_spec(spec: LoadSpec, image: str = IMAGE, node_selector: dict[str, str] | None = None,
             resources: Obj | None = None) -> Obj:
    """The loadgen pod's spec: restricted Pod Security, no service account token, /tmp an emptyDir."""
    return {"restartPolicy": "Never", "automountServiceAccountToken": False, "securityContext": RESTRICTED_POD,
            "terminationGracePeriodSeconds": 1, **({"nodeSelector": node_selector} if node_selector else {}),
            "containers": [{"name": "loadgen", "image": image, "imagePullPolicy": "IfNotPresent",
                            "args": [spec.to_json()], "resources": resources or RESOURCES,
                            "securityContext": RESTRICTED_CONTAINER,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]}


def job_manifest(spec: LoadSpec, name: str, namespace: str, *, image: str = IMAGE, labels: dict[str, str] | None = None,
                 node_selector: dict[str, str] | None = None, resources: Obj | None = None) -> Obj:
    """A Job that runs the load once (never retried: a second run would send other requests) and is killed
    START_GRACE_S after the run should have ended."""
    lab = {**LABELS, **(labels or {}), "ml-serving-charts.io/loadgen": name}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace, "labels": lab},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": math.ceil(spec.seconds + START_GRACE_S),
                     "ttlSecondsAfterFinished": 3600,
                     "template": {"metadata": {"labels": lab},
                                  "spec": pod_spec(spec, image, node_selector, resources)}}}


def start(kubectl: Kubectl, spec: LoadSpec, name: str, namespace: str, **kw: Any) -> Obj:
    """Create the Job (job_manifest's keywords); returns it. The requests start once its pod runs."""
    job = job_manifest(spec, name, namespace, **kw)
    # a finished Job of the same name goes first, with its pod (wait_sending and wait find the Job's pods by name)
    kubectl("delete", "job", name, "-n", namespace, "--ignore-not-found", "--cascade=foreground", "--wait=true",
            timeout=90)
    kubectl.apply([job], field_manager=FIELD_MANAGER)
    return job


def wait_sending(kubectl: Kubectl, name: str, namespace: str, timeout: float = START_GRACE_S) -> None:
    """Until the Job's pod runs (its first request leaves within a second or so), e.g. before a test breaks
    something. Raises LoadgenError with the pod's state when it does not start (ErrImageNeverPull: the image
    is not loaded into the node; Pending: no room on the node)."""
    seen: list[Obj] = []

    def running() -> bool:
        pods = kubectl.json("get", "pods", "-n", namespace, "-l", f"job-name={name}")["items"]
        seen[:] = pods
        if any(p.get("status", {}).get("phase") == "Failed" for p in pods):
            raise LoadgenError(f"loadgen pod of Job {namespace}/{name} failed: {_pod_states(pods)}")
        return any(p.get("status", {}).get("phase") in ("Running", "Succeeded") for p in pods)
    try:
        wait_until(running, timeout, f"the loadgen pod of Job {namespace}/{name}", interval=1)
    except TimeoutError as err:
        raise LoadgenError(f"{err}: {_pod_states(seen) or 'no pod yet'}") from err


def _pod_states(pods: list[Obj]) -> str:
    """Each pod's phase and its container's waiting/terminated reason and message."""
    out = []
    for pod in pods:
        status = pod.get("status", {})
        states = [f"{kind} {state.get('reason', '')} {state.get('message', '')[:200]}".strip()
                  for c in status.get("containerStatuses", []) for kind, state in c.get("state", {}).items()]
        out.append(f"{pod['metadata']['name']}: {status.get('phase')}" + (f" ({'; '.join(states)})" if states else ""))
    return ", ".join(out)


def wait(kubectl: Kubectl, name: str, namespace: str, timeout: float | None = None, delete: bool = True) -> LoadResult:
    """Wait until the Job has finished, then its LoadResult (the Job is deleted unless delete=False).
    timeout: default the Job's own deadline plus a minute."""
    job = kubectl.json("get", "job", name, "-n", namespace)
    limit = timeout if timeout is not None else job["spec"].get("activeDeadlineSeconds", 600) + 60

    def finished() -> Obj | None:
        status = kubectl.json("get", "job", name, "-n", namespace).get("status", {})
        return status if status.get("succeeded") or status.get("failed") else None
    try:
        status = wait_until(finished, limit, f"loadgen Job {namespace}/{name}", interval=2)
    except TimeoutError as err:
        raise LoadgenError(f"{err}\n{kubectl('describe', 'job', name, '-n', namespace, check=False).stdout[-2000:]}") from err
    logs = kubectl("logs", f"job/{name}", "-n", namespace, "--tail=-1", check=False, timeout=120)
    try:
        return parse_result(logs.stdout)
    except LoadgenError as err:
        why = "; ".join(c.get("message", "") for c in status.get("conditions", []) if c.get("message"))
        raise LoadgenError(f"{err}\n(Job {namespace}/{name}: {why or status})\n{logs.stderr.strip()[-500:]}") from err
    finally:
        if delete:
            kubectl("delete", "job", name, "-n", namespace, "--ignore-not-found", "--wait=false", check=False)


def run(kubectl: Kubectl, spec: LoadSpec, name: str, namespace: str, **kw: Any) -> LoadResult:
    """start() then wait(): one load run, its result."""
    start(kubectl, spec, name, namespace, **kw)
    return wait(kubectl, name, namespace)



# ------------------------------------------------------------------ many runs from one pod

RUNNER_PROGRAM = "/opt/loadgen/loadgen_run.py"   # where the image keeps the entry program (images/loadgen)


def runner_pod(name: str, namespace: str, *, image: str = IMAGE, node_selector: dict[str, str] | None = None,
               tolerations: list[Obj] | None = None, resources: Obj | None = None) -> Obj:
    """A long-lived loadgen pod that sends nothing by itself: exec_run() runs one load after another in it, each
    in a second or so (a Job per run costs a pod start), e.g. the serving benchmark's hundred short cells."""
    spec = pod_spec(LoadSpec("rest", "http://unused"), image, node_selector, resources)
    container = spec["containers"][0]
    container.pop("args")
    container["command"] = ["/usr/bin/python3", "-c", "import time\nwhile True: time.sleep(3600)"]
    spec["terminationGracePeriodSeconds"] = 0
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
            "spec": spec}


def exec_run(kubectl: Kubectl, spec: LoadSpec, pod: str, namespace: str) -> LoadResult:
    """One load run inside a runner_pod(), its LoadResult (LoadgenError with the tool's message when it could
    not send)."""
    proc = kubectl("exec", pod, "-n", namespace, "-c", "loadgen", "--", "/usr/bin/python3", RUNNER_PROGRAM,
                   spec.to_json(), check=False, timeout=spec.seconds + 60)
    try:
        return parse_result(proc.stdout)
    except LoadgenError as err:
        raise LoadgenError(f"{err}\n(kubectl exec {namespace}/{pod}: exit {proc.returncode}) "
                           f"{proc.stderr.strip()[-500:]}") from err
