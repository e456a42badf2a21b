"""Batch inference (seldon-model `batch`) in plain Docker: the chart's shard program (files/batch/shard.py) driving
Seldon Core 1.17.1's real batch processor in the iris-model image, against the real iris model server
(localhost/ml-serving-charts/iris-model:0.1.0, seldon protocol, REST 9000 and gRPC 5000) on a user-defined Docker network,
every container restricted as the Job's pods are. A bind-mounted folder stands in for the Job's PVC.

- 10,000 iris rows in, 10,000 correct answers out in input order, every batch_index once, REST and gRPC;
- 4 shards (4 containers at once) merge into the same output as 1;
- a row the model rejects (3 features) is written with the model's own error and the rest go on;
- a missing input file fails the shard with a message naming it;
- a shard that already wrote its part is skipped when it runs again;
- protocol v2: MLServer's batch processor (in seldonio/mlserver:1.7.1-sklearn) driven by the same program against
  mlserver-iris (v2 REST), 10,000 rows in 4 shards of 10-row requests, two rejected rows with MLServer's message.
In this tier because it needs the Docker engine; no cluster (tests/cluster_kind/test_kind_batch.py does the same
through the operator and executor). `scripts/bench batch` runs test_rows_per_second (-s shows the table)."""
from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from harness import require_built
from msc import batch
from msc.images.apps import APP_IMAGES
from msc.images.smoke import container, docker, seldon_component, wait_for

pytestmark = pytest.mark.cluster_kind

ALIAS = "iris"
ENDPOINTS = {"rest": f"{ALIAS}:9000", "grpc": f"{ALIAS}:5000"}
ROWS = batch.iris_input(10_000)
INPUT = batch.input_lines(ROWS)


@pytest.fixture(scope="module")
def network() -> Iterator[str]:
    """A docker network on which the iris model server answers as `iris` (REST 9000, gRPC 5000)."""
    image = APP_IMAGES["iris-model"]
    require_built(docker("image", "inspect", image, check=False).returncode == 0,
                  f"image {image} not built: run scripts/images iris-model")
    name = f"msc-batch-{secrets.token_hex(3)}"
    docker("network", "create", name)
    try:
        # two gunicorn workers: the server, the shards and everything else share the machine's cores
        with seldon_component(image, [9000, 5000], env={"GUNICORN_WORKERS": "2"},
                              extra=["--network", name, "--network-alias", ALIAS]):
            yield name
    finally:
        docker("network", "rm", name, check=False)


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)   # files the container user wrote


def _run(network: str, transport: str, work: Path, text: str | None = INPUT, **kw) -> batch.DockerRun:
    run = batch.run_in_docker(network, ENDPOINTS[transport], transport, text, work=work,
                              ready_url=f"http://{ALIAS}:9000/health/ping", **kw)
    print(f"\n{run.describe()}")
    return run


@pytest.mark.parametrize("transport", sorted(ENDPOINTS))
def test_ten_thousand_rows_one_shard(network: str, work: Path, transport: str) -> None:
    run = _run(network, transport, work, shards=1, workers=4)
    assert run.exit_codes == [0], run.logs
    summary = batch.check_output(run.merged, ROWS)
    assert summary["batch_ids"] == ["docker-batch"] and summary["shards"] == [0]
    (report,) = run.reports
    assert (report["rows"], report["done"], report["failed"], report["merged"]) == (10_000, 10_000, 0, True)


@pytest.mark.parametrize("transport", sorted(ENDPOINTS))
def test_four_shards_give_the_output_of_one(network: str, work: Path, transport: str) -> None:
    run = _run(network, transport, work, shards=4, workers=2, batch_size=10)
    assert run.exit_codes == [0] * 4, run.logs
    summary = batch.check_output(run.merged, ROWS)
    assert summary["shards"] == [0, 1, 2, 3]
    assert sorted(r["first"] for r in run.reports) == [0, 2500, 5000, 7500]
    assert sum(r["merged"] for r in run.reports) >= 1   # the last to finish merged (two may, identically)
    parts = sorted((work / "output" / "parts").iterdir())
    assert [p.name for p in parts] == [f"part-0000{i}-of-00004.jsonl" for i in range(4)]
    assert [line for p in parts for line in p.read_text().splitlines()] == run.merged
    # the answers do not depend on the sharding: the same probabilities as a single shard's (to the last bits a
    # 10-row request's matrix product rounds differently from a 1-row one)
    (work.parent / "single").mkdir()
    single = _run(network, transport, work.parent / "single", text=batch.input_lines(ROWS[:300]), shards=1)
    assert single.exit_codes == [0], single.logs
    answers = [p for x in run.merged[:300] for p in json.loads(x)["data"]["ndarray"][0]]
    assert answers == pytest.approx([p for x in single.merged for p in json.loads(x)["data"]["ndarray"][0]], rel=1e-9)


@pytest.mark.parametrize("transport", sorted(ENDPOINTS))
@pytest.mark.parametrize("batch_size", [1, 10])
def test_a_rejected_row_is_reported_and_the_rest_answered(network: str, work: Path, transport: str,
                                                          batch_size: int) -> None:
    rows = ROWS[:200]
    lines = batch.input_lines(rows).splitlines()
    bad = {17, 150}
    for i in bad:
        lines[i] = json.dumps([rows[i][0][:3]])      # 3 features: the model answers 400 / gRPC error
    run = _run(network, transport, work, text="\n".join(lines) + "\n", shards=2, batch_size=batch_size)
    assert run.exit_codes == [0, 0], run.logs
    batch.check_output(run.merged, rows, rejected=bad)
    reason = json.loads(run.merged[17])["status"]["reason"]
    if transport == "rest":   # the model's own message (over gRPC the 1.17.1 wrapper sends none)
        assert "expected rows of 4 features" in reason, reason
    assert sum(r["failed"] for r in run.reports) == 2


def test_a_missing_input_file_fails_naming_it(network: str, work: Path) -> None:
    run = _run(network, "rest", work, text=None, input_name="nope.jsonl")
    assert run.exit_codes == [2], run.logs
    assert "input file /data/nope.jsonl does not exist" in run.logs[0]
    assert run.reports == [{"batch": "shard", "format": "ml-serving-charts.batch/1",
                            "error": run.reports[0]["error"]}] and "nope.jsonl" in run.reports[0]["error"]


def test_a_rerun_skips_written_parts_and_redoes_only_the_missing(network: str, work: Path) -> None:
    rows = ROWS[:400]
    first = _run(network, "rest", work, text=batch.input_lines(rows), shards=4, only=[0, 1, 3])
    assert first.exit_codes == [0, 0, 0] and first.merged == [], first.logs   # shard 2 missing: no merge yet
    second = _run(network, "rest", work, text=None, shards=4)
    assert second.exit_codes == [0] * 4, second.logs
    assert {r["shard"]: r["skipped"] for r in second.reports} == {0: True, 1: True, 2: False, 3: True}
    batch.check_output(second.merged, rows)


V2_ALIAS = "iris-v2"


@pytest.fixture(scope="module")
def v2_network() -> Iterator[str]:
    """A docker network on which mlserver-iris answers the v2 protocol as `iris-v2` (REST 8080, model classifier)."""
    missing = [APP_IMAGES[k] for k in ("mlserver-iris", "mlserver-sklearn")
               if docker("image", "inspect", APP_IMAGES[k], check=False).returncode != 0]
    require_built(not missing, f"images {missing} not built: run scripts/images mlserver-iris mlserver-sklearn")
    name = f"msc-batch-v2-{secrets.token_hex(3)}"
    docker("network", "create", name)
    try:
        with container(APP_IMAGES["mlserver-iris"], [8080], extra=["--network", name, "--network-alias", V2_ALIAS]) as url:
            wait_for(f"{url[8080]}/v2/models/classifier/ready")
            yield name
    finally:
        docker("network", "rm", name, check=False)


def test_v2_ten_thousand_rows_four_shards_with_rejected_rows(v2_network: str, work: Path) -> None:
    lines = batch.input_lines(ROWS, "v2").splitlines()
    bad = {42, 7_777}
    for i in bad:
        request = json.loads(lines[i])
        request["inputs"][0].update(shape=[1, 3], data=ROWS[i][0][:3])
        lines[i] = json.dumps(request)
    run = batch.run_in_docker(v2_network, f"{V2_ALIAS}:8080", "rest", "\n".join(lines) + "\n", work=work, shards=4,
                              workers=2, batch_size=10, protocol="v2", model="classifier",
                              image=APP_IMAGES["mlserver-sklearn"], python="/opt/mlserver/bin/python",
                              ready_url=f"http://{V2_ALIAS}:8080/v2/health/ready")
    print(f"\nv2 {run.describe()}")
    assert run.exit_codes == [0] * 4, run.logs
    summary = batch.check_output(run.merged, ROWS, rejected=bad)
    assert summary["batch_ids"] == ["docker-batch"] and summary["shards"] == [0, 1, 2, 3]
    assert "expecting 4 features" in json.loads(run.merged[42])["error"]["msg"]


FIGURES: list[tuple[str, int, int, float, float]] = []
BENCH = [(t, s, b) for b in (1, 10) for t in sorted(ENDPOINTS) for s in (1, 2, 4)]


@pytest.mark.parametrize(("transport", "shards", "batch_size"), BENCH)
def test_rows_per_second(network: str, work: Path, transport: str, shards: int, batch_size: int) -> None:
    """The benchmark (scripts/bench batch): 10,000 rows, 4 workers per shard, one row or 10 rows a request; printed,
    not asserted on time. Every run must still be complete and correct."""
    run = _run(network, transport, work, shards=shards, workers=4, batch_size=batch_size)
    assert run.exit_codes == [0] * shards, run.logs
    batch.check_output(run.merged, ROWS)
    FIGURES.append((transport, shards, batch_size, run.seconds, run.rows_per_s))
    if len(FIGURES) == len(BENCH):
        print("\nbatch rows/s (Docker, one iris-model server with 2 gunicorn workers, 10,000 rows, 4 workers/shard)")
        print(f"{'transport':10} {'rows/request':>12} {'shards':>6} {'seconds':>8} {'rows/s':>8}")
        for t, s, b, sec, rps in sorted(FIGURES):
            print(f"{t:10} {b:12d} {s:6d} {sec:8.1f} {rps:8.0f}")
