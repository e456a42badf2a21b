"""The serving benchmark (issue 19) on kind: the iris model served every way msc.serving_bench.VARIANTS lists (the
bare model containers as plain pods, SeldonDeployments of the seldon-model chart through the operator and executor
built from source: one node, TRANSFORMER -> MODEL, COMBINER over two models, 2 replicas, protocol v2 on MLServer),
every pod pinned to the CPU worker, each graph released twice (transport rest and grpc, so a gRPC cell is gRPC end
to end). One loadgen pod on the other worker runs every load (msc.loadgen.exec_run: vegeta for REST, ghz for
gRPC): the fixed-rate cells, then the ramps. The test prints the table and writes <name>.md and <name>-latency.png.

In the kind tier it runs the SHORT setting (two variants, a couple of seconds a cell, about 2 minutes) and checks
that the benchmark ran end to end: every cell, repeat, ramp and overhead row is there, the document has its
sections and the plot is a PNG. Never the times. `scripts/bench serving` runs the FULL setting and writes
docs/benchmarks/serving.md (MSC_SERVING_BENCH=full, MSC_SERVING_BENCH_OUT=docs/benchmarks; msc.serving_bench.ENV_HELP
lists the other knobs)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from msc import loadgen, serving_bench as sb, stack as ks
from msc.env import PINS
from msc.images.apps import APP_IMAGES, MLSERVER_VERSION, SELDON_VERSION
from harness import VALUES
from harness.serving_plot import plot
from harness.cluster import Helm
from kind_support import CPU_POOL, GPU_POOL, KindEnv, install_model, wait_available

pytestmark = pytest.mark.cluster_kind
Obj = dict[str, Any]

SETTINGS = sb.settings_from_env()
OUT = os.environ.get("MSC_SERVING_BENCH_OUT", "")           # where to write the document (default: a tmp folder)
COMMAND = os.environ.get("MSC_SERVING_BENCH_COMMAND", "scripts/bench serving")
RUNNER = "loadgen-runner"
BARE = {"bare-seldon": ("iris", 5000), "bare-v2": ("mlserver-iris", 8081)}   # -> (msc.stack.SERVERS name, gRPC port)
RUNNER_RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
GPU_TOLERATION = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def graph_values(variant: sb.Variant, transport: str, node: str) -> Obj:
    """The seldon-model values of a graph variant: the chart's scenario (or the one-node iris graph), the caller's
    transport, every pod on `node`."""
    if variant.name in ("transformer", "combiner", "executor-v2"):
        scenario = {"transformer": "transformer", "combiner": "combiner", "executor-v2": "v2-mlserver"}[variant.name]
        values = yaml.safe_load((VALUES / "seldon-model" / f"{scenario}.yaml").read_text())
    else:
        values = {"predictors": [{"name": "default", "graph": {"name": sb.MODEL_NAME, "type": "MODEL"},
                                  "components": {sb.MODEL_NAME: {"image": ks.component_image("iris-model")}}}]}
    values["transport"] = transport
    if variant.replicas > 1:
        values["replicas"] = variant.replicas
    values["defaults"] = {"podSpec": {"nodeSelector": {"kubernetes.io/hostname": node}}}
    return values


def bare_objects(variant: sb.Variant, namespace: str, node: str) -> list[Obj]:
    """msc.stack's plain Deployment + Service of the model server, with its gRPC port too, on `node`."""
    server_name, grpc_port = BARE[variant.name]
    objs = ks.server_objects(ks.SERVERS[server_name], namespace, part_of="ml-serving-charts-bench")
    deployment, service = objs
    pod = deployment["spec"]["template"]["spec"]
    pod["nodeSelector"] = {"kubernetes.io/hostname": node}
    pod["containers"][0]["ports"].append({"name": "grpc", "containerPort": grpc_port})
    service["spec"]["ports"].append({"name": "grpc", "port": grpc_port, "targetPort": "grpc"})
    return objs


@pytest.fixture(scope="module")
def served(kind: KindEnv, helm_cli: Helm, seldon_operator: str, make_namespace: Callable[..., str]) -> Iterator[Obj]:
    """Every variant of SETTINGS served on the CPU worker and the loadgen runner pod on the GPU worker.
    {namespace, hosts: (variant, transport) -> host, selectors: variant -> label selectors, node}."""
    variants = [sb.VARIANTS[v] for v in SETTINGS.variants]
    images = {"loadgen"} | {ks.SERVERS[BARE[v.name][0]].image for v in variants if v.kind == "bare"}
    images |= {"iris-model"} | ({"iris-transformer"} if "transformer" in SETTINGS.variants else set()) | \
        ({"iris-combiner"} if "combiner" in SETTINGS.variants else set()) | \
        ({"mlserver-iris"} if "executor-v2" in SETTINGS.variants else set())
    kind.require(*sorted(images))
    node, other = kind.node_of_pool(CPU_POOL), kind.node_of_pool(GPU_POOL)
    # not "kind-serving": test_kind_seldon_serving deletes that namespace as it ends, just before this module
    namespace = make_namespace("kind-serving-bench")
    t0 = time.monotonic()
    objs = [o for v in variants if v.kind == "bare" for o in bare_objects(v, namespace, node)]
    objs.append(loadgen.runner_pod(RUNNER, namespace, node_selector={"kubernetes.io/hostname": other},
                                   tolerations=GPU_TOLERATION, resources=RUNNER_RESOURCES))
    ks.apply(kind.kubectl, objs)
    hosts: dict[tuple[str, str], str] = {}
    selectors: dict[str, list[str]] = {}
    releases, sdeps = [], []
    for v in variants:
        if v.kind == "bare":
            server = ks.SERVERS[BARE[v.name][0]]
            hosts |= {(v.name, t): f"{server.name}.{namespace}.svc.cluster.local" for t in SETTINGS.transports}
            selectors[v.name] = [f"app.kubernetes.io/name={server.name}"]
            continue
        for transport in SETTINGS.transports:
            release = f"{v.name}-{transport}"
            sdep = install_model(kind, helm_cli, namespace, release, graph_values(v, transport, node))
            name = sdep["metadata"]["name"]
            releases.append(release)
            sdeps.append(name)
            hosts[(v.name, transport)] = f"{name}-default.{namespace}.svc.cluster.local"
            selectors.setdefault(v.name, []).append(f"seldon-deployment-id={name}")
    try:
        for v in variants:
            if v.kind == "bare":
                ks.rollout(kind.kubectl, namespace, f"deployment/{ks.SERVERS[BARE[v.name][0]].name}", 300)
        ks.wait_pod_ready(kind.kubectl, namespace, RUNNER, 180)
        for name in sdeps:
            wait_available(kind, name, namespace, timeout=420)
        print(f"\n[serving] {len(variants)} variants ({len(sdeps)} SeldonDeployments) serving on {node} in "
              f"{time.monotonic() - t0:.0f} s; {sb.describe_settings(SETTINGS)}")
        yield {"namespace": namespace, "hosts": hosts, "selectors": selectors, "node": node}
    finally:
        for release in releases:
            helm_cli.uninstall(release, namespace, wait=False, check=False)


def placement(kind: KindEnv, served: Obj) -> dict[str, list[str]]:
    """variant -> the nodes its pods run on."""
    out = {}
    for variant, selectors in served["selectors"].items():
        nodes = []
        for selector in selectors:
            pods = kind.kubectl.json("get", "pods", "-n", served["namespace"], "-l", selector)["items"]
            nodes += [p["spec"].get("nodeName", "?") for p in pods if not p["metadata"].get("deletionTimestamp")]
        out[variant] = nodes
    return out


def versions(kind: KindEnv, served: Obj) -> Obj:
    node = kind.kubectl.json("get", "node", served["node"])["status"]["nodeInfo"]
    executor = next((c.get("resources", {}) for p in kind.kubectl.json(
        "get", "pods", "-n", served["namespace"], "-l", "seldon-app")["items"]
        for c in p["spec"]["containers"] if c["name"] == "seldon-container-engine"), {})
    import matplotlib
    binaries = PINS["image_binaries"]
    return {"Kubernetes (kind node)": f"{node['kubeletVersion']}, {node['containerRuntimeVersion']}",
            "Seldon Core operator and executor": f"{SELDON_VERSION} (built from source: "
                                                 f"{', '.join(ks.SELDON_OPERATOR_IMAGES)})",
            "executor container resources (the kind tier's seldon-operator values)": executor or "not found",
            "iris-model (seldon python wrapper)": APP_IMAGES["iris-model"],
            "MLServer": f"{MLSERVER_VERSION} ({APP_IMAGES['mlserver-iris']})",
            "load generator": f"{APP_IMAGES['loadgen']}: vegeta {binaries['vegeta']['version']}, "
                              f"ghz {binaries['ghz']['version']}",
            "matplotlib": matplotlib.__version__}


def test_serving_benchmark(kind: KindEnv, served: Obj, tmp_path: Path) -> None:
    machine = sb.machine_facts()
    started = time.monotonic()
    namespace = served["namespace"]

    def send(spec: loadgen.LoadSpec, label: str) -> loadgen.LoadResult:
        return loadgen.exec_run(kind.kubectl, spec, RUNNER, namespace)

    cells, ramps = sb.measure(SETTINGS, served["hosts"], send)
    seconds = time.monotonic() - started
    where = placement(kind, served)
    report = sb.Report(SETTINGS, cells, ramps, sb.public(sb.finish_machine(machine)), versions(kind, served),
                       COMMAND if SETTINGS.name == "full" else f"MSC_SERVING_BENCH={SETTINGS.name} {COMMAND}",
                       seconds, machine["_time"], where)
    md, png = report.write(Path(OUT) if OUT else tmp_path, plot)
    print("\n" + report.text() + f"\n\nwritten: {md}, {png}")

    # every variant's pods on the one CPU worker
    assert {n for nodes in where.values() for n in nodes} == {served["node"]}, where
    assert all(len(where[v]) >= sb.VARIANTS[v].replicas for v in SETTINGS.variants), where
    # every fixed-rate cell, each with its repeats, every request of each run sent and summarised
    expected = [(v, t, b) for v in SETTINGS.variants for t in SETTINGS.transports for b in SETTINGS.batches]
    assert [(c.variant, c.transport, c.batch) for c in cells] == expected
    planned = round(SETTINGS.rate * (SETTINGS.warmup_seconds + SETTINGS.seconds))
    for cell in cells:
        assert len(cell.runs) == len(cell.raw) == SETTINGS.repeats, cell
        for raw, run in zip(cell.raw, cell.runs):
            assert raw.sent == raw.planned == planned, raw.describe()
            # the warm-up dropped, the rest kept (give or take the sender's pacing on a busy machine: a second at
            # 10/s kept 8 to 10 requests on the shared test machine)
            assert SETTINGS.rate * SETTINGS.seconds / 2 <= run.sent < raw.sent, (run.describe(), raw.describe())
            assert run.latency_ms.p50 <= run.latency_ms.p90 <= run.latency_ms.p99 <= run.latency_ms.max
    # a ramp per variant and transport, stepping up until its first bad step
    assert [(r.variant, r.transport) for r in ramps] == [(v, t) for v in SETTINGS.variants for t in SETTINGS.transports]
    for ramp in ramps:
        assert ramp.steps and [s.rate for s in ramp.steps] == list(SETTINGS.ramp[:len(ramp.steps)]), ramp
        assert all(s.good for s in ramp.steps[:-1]), ramp
    # the executor's overhead for each pair measured, per transport and batch, at p50 and p99
    pairs = [(g, b) for g, b in sb.OVERHEAD_PAIRS if g in SETTINGS.variants and b in SETTINGS.variants]
    overheads = report.overheads()
    assert len(overheads) == len(pairs) * len(SETTINGS.transports) * len(SETTINGS.batches) * 2, overheads
    assert all(o.low_ms <= o.median_ms <= o.high_ms for o in overheads), overheads
    # the document and the plot
    text = md.read_text()
    assert sb.markdown_sections(text) == sb.SECTIONS, sb.markdown_sections(text)
    assert len([line for line in text.splitlines() if line.startswith("| ") and " batch" not in line]) >= \
        len(cells) + len(ramps) + len(overheads)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert f"]({png.name})" in text
    if SETTINGS.name == "short":
        # 10 requests/s is light: a loss here is a serving fault, not load
        assert not report.losses(), report.losses()
