"""The load generator (localhost/ml-serving-charts/loadgen, msc.loadgen) against a real model server, in plain Docker: Seldon's
SKLEARN_SERVER with the iris model on a user-defined Docker network, loaded at a fixed rate over REST
(/api/v1.0/predictions) and gRPC (seldon.protos.Seldon/Predict), every container restricted as its pod would be.
In this tier because it needs the Docker engine; it needs no cluster (the fault and autoscaling tests run the
same image as a Job in it). The figures are printed (`-s` shows them), never asserted on time."""
from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from typing import Iterator

import pytest

from harness import require_built
from msc import loadgen
from msc.images.apps import APP_IMAGES
from msc.images.smoke import docker, iris_model_dir, run_loadgen, seldon_component
from msc.proc import wait_until

pytestmark = pytest.mark.cluster_kind

RATE, DURATION = 20, 15          # modest: the server, the load and everything else share 2 cores
ALIAS = "sklearn"                # the server's name on the network
ENDPOINTS = {"rest": loadgen.seldon_rest(f"http://{ALIAS}:9000", rate=RATE, duration=DURATION),
             "grpc": loadgen.seldon_grpc(f"{ALIAS}:5000", rate=RATE, duration=DURATION)}


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[str, str]]:
    """(docker network, the server's container id): SKLEARN_SERVER serving the iris model as the operator runs it."""
    missing = [APP_IMAGES[k] for k in ("loadgen", "sklearnserver", "iris-model")
               if docker("image", "inspect", APP_IMAGES[k], check=False).returncode != 0]
    require_built(not missing, f"images {missing} not built: run scripts/images loadgen sklearnserver iris-model")
    name = f"msc-loadgen-{secrets.token_hex(3)}"
    docker("network", "create", name)
    try:
        params = json.dumps([{"name": "model_uri", "value": "/mnt/models", "type": "STRING"}])
        with iris_model_dir() as model, seldon_component(
                APP_IMAGES["sklearnserver"], [9000, 5000], env={"PREDICTIVE_UNIT_PARAMETERS": params},
                extra=["-v", f"{model}:/mnt/models:ro", "--network", name, "--network-alias", ALIAS]) as url:
            yield name, url["cid"]
    finally:
        docker("network", "rm", name, check=False)


@pytest.mark.parametrize("protocol", sorted(ENDPOINTS))
def test_fixed_rate_load_is_sent_answered_and_reported(network: tuple[str, str], protocol: str) -> None:
    spec = ENDPOINTS[protocol]
    result = run_loadgen(spec, network[0])
    print(f"\n{protocol}: {result.describe()}")
    assert result.failed == 0, result.describe_failures()
    assert result.sent == spec.requests == RATE * DURATION, result.describe()
    assert result.codes == {"200" if protocol == "rest" else "OK": spec.requests}
    # sent at the rate over the whole run (open loop), in sending order, each with a latency
    assert [b["sent"] for b in result.buckets] == pytest.approx([RATE] * DURATION, abs=1), result.buckets
    assert all(a.t <= b.t for a, b in zip(result.requests, result.requests[1:]))
    assert result.latency_ms.p50 <= result.latency_ms.p99 <= result.latency_ms.max
    middle = result.window(result.started + 5, result.started + 10)
    assert middle.sent == pytest.approx(5 * RATE, abs=1) and middle.failed == 0, middle.describe()


@pytest.mark.parametrize("protocol", sorted(ENDPOINTS))
def test_requests_failing_during_a_pause_are_found_in_that_window(network: tuple[str, str], protocol: str) -> None:
    """The server frozen (docker pause) for 2 s of an 8 s run: the requests sent then time out and are reported
    as failed, at the times they were sent; the ones before and after the pause succeed."""
    spec = dataclasses.replace(ENDPOINTS[protocol], duration=8.0, timeout=1.0)
    results: list = []
    runner = threading.Thread(target=lambda: results.append(run_loadgen(spec, network[0])))
    runner.start()
    # the pause starts once the run is sending (its container is up), 2 s in
    wait_until(lambda: docker("ps", "-q", "--filter", f"network={network[0]}", "--filter", "ancestor="
                              + APP_IMAGES["loadgen"]).stdout.strip(), 30, "the loadgen container")
    time.sleep(2)
    paused = time.time()
    docker("pause", network[1])
    try:
        time.sleep(2)
    finally:
        docker("unpause", network[1])
    resumed = time.time()
    runner.join(timeout=spec.seconds + 90)
    result = results[0]
    print(f"\n{protocol}, paused {paused - result.started:.1f}-{resumed - result.started:.1f} s: {result.describe()}")
    assert result.failed > 0, "no request failed while the server was paused"
    assert {f.code for f in result.failures()} <= {"0", "DeadlineExceeded"}, result.describe_failures()
    # sent while the server was frozen, up to one timeout before (their answer was due during it) or after (queued
    # behind the backlog it works off when it resumes)
    margin = spec.timeout + 0.5
    assert all(paused - margin <= f.t <= resumed + margin for f in result.failures()), result.describe_failures()
    after = result.window(resumed + margin, result.started + 60)
    assert after.sent > 0 and after.failed == 0, after.describe_failures()
