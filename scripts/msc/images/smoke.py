"""Smoke-test the images `scripts/images` builds, in plain Docker, the way the charts run them.

Usage:
  scripts/images smoke [NAME ...]     default: every image; exit 1 if any check fails

Every container runs as the charts' pods do: `--user 65532 --read-only --tmpfs /tmp --cap-drop ALL
--security-opt no-new-privileges`, ports published on 127.0.0.1 (random host ports). Each image is
also checked for a numeric non-root USER and for having no /bin/sh.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ..iris import (CLASSES, FEATURES, IRIS_ROWS, SETOSA_CM, TRAIN_SKLEARN, TRAIN_XGBOOST, VIRGINICA_CM,
                   seldon_rows as rows_of_message)
from ..env import PINS
from ..loadgen import LoadgenError, LoadResult, LoadSpec, grpc, parse_result, rest
from ..proc import wait_until
from .apps import APP_IMAGES
from .kserve import KSERVE_IMAGES

IMAGES = {**APP_IMAGES, **{name: ref for name, (_, _, ref) in KSERVE_IMAGES.items()}}   # what `smoke NAME` checks

RESTRICTED = ["--user", "65532:65532", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=256m",
              "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]

def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return proc


def http(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read().decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


@contextmanager
def container(image: str, ports: list[int], args: list[str] = (), env: dict[str, str] | None = None,
              extra: list[str] = ()) -> Iterator[dict]:
    """Run image detached; yield {container port: "http://127.0.0.1:<host port>", "cid": id}; always remove it."""
    cmd = ["run", "-d", *RESTRICTED, *extra]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    for p in ports:
        cmd += ["-p", f"127.0.0.1::{p}"]
    cid = docker(*cmd, image, *args).stdout.strip()
    try:
        urls: dict = {"cid": cid}
        for p in ports:
            hostport = docker("port", cid, f"{p}/tcp").stdout.split()[0]
            urls[p] = f"http://{hostport.replace('0.0.0.0', '127.0.0.1')}"
        try:
            yield urls
        except AssertionError as err:
            logs = docker("logs", "--tail", "40", cid, check=False)
            raise AssertionError(f"{err}\n--- last container logs ---\n{logs.stdout}{logs.stderr}") from err
    finally:
        docker("rm", "-f", "-v", cid, check=False)


@contextmanager
def seldon_component(image: str, ports: list[int] = (9000, 6000), env: dict[str, str] | None = None,
                     extra: list[str] = ()) -> Iterator[dict]:
    """A Seldon python-wrapper component container, once its REST port answers /health/ping."""
    with container(image, list(ports), env=env, extra=extra) as url:
        wait_for(f"{url[9000]}/health/ping")
        yield url


def wait_for(url: str, ok: Callable[[int, Any], bool] = lambda s, b: s == 200, timeout: float = 90) -> Any:
    """Poll GET url until ok(status, body); returns the body."""
    seen: list[Any] = [None]

    def answered() -> Any:
        try:
            status, body = http("GET", url, timeout=5)
        except (urllib.error.URLError, ConnectionError, OSError) as err:
            seen[0] = err
            return None
        seen[0] = (status, str(body)[:200])
        return (body,) if ok(status, body) else None   # a tuple: an empty body is an answer too
    try:
        return wait_until(answered, timeout, url)[0]
    except TimeoutError as err:
        raise AssertionError(f"{url} not ready in {timeout:.0f}s (last: {seen[0]})") from err


def listening(url: dict, python: str, port: int) -> None:
    """Something listens on port inside the container (a published port always accepts: docker-proxy)."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5).close()"
    try:
        wait_until(lambda: docker("exec", url["cid"], python, "-c", probe, check=False).returncode == 0, 30,
                   f"port {port}")
    except TimeoutError as err:
        raise AssertionError(f"nothing listens on port {port} in the container") from err


def image_checks(image: str) -> list[str]:
    """Non-root numeric user, no shell."""
    user = docker("image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip()
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0", f"{image}: USER is {user!r}"
    sh = docker("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "true", check=False)
    assert sh.returncode != 0, f"{image} has a working /bin/sh"
    return [f"USER {user}, no /bin/sh"]


def seldon_message(status: int, body: Any, what: str) -> dict:
    assert status == 200, f"{what}: HTTP {status}: {body}"
    assert isinstance(body, dict) and ("data" in body or "jsonData" in body), f"{what}: not a SeldonMessage: {body}"
    return body


def post(url: str, body: Any, what: str) -> dict:
    """POST a SeldonMessage-shaped request; the answer must be a SeldonMessage."""
    return seldon_message(*http("POST", url, body), what)


def refused(url: str, body: Any, what: str) -> str:
    """POST a request the component must refuse with HTTP 400; returns the line for the report."""
    status, err = http("POST", url, body)
    assert status == 400, f"{what}: HTTP {status} {err}"
    return f"{what} -> HTTP 400 ({str(err)[:90]}...)"


def rows_of(data: dict) -> list[list[float]]:
    return rows_of_message({"data": data})


def check_iris_model(image: str) -> list[str]:
    done = []
    with seldon_component(image, [9000, 5000, 6000]) as url:
        listening(url, "/opt/seldon/bin/python", 5000)
        done.append("gRPC port 5000 accepts connections")
        body = post(f"{url[9000]}/api/v1.0/predictions", {"data": {"ndarray": [SETOSA_CM, VIRGINICA_CM]}}, "predict")
        names, rows = body["data"]["names"], rows_of(body["data"])
        assert names == CLASSES, f"class names {names}"
        assert len(rows) == 2 and all(abs(sum(r) - 1) < 1e-6 for r in rows), f"not probability rows: {rows}"
        assert max(range(3), key=lambda i: rows[0][i]) == 0 and rows[0][0] > 0.9, f"setosa row: {rows[0]}"
        assert max(range(3), key=lambda i: rows[1][i]) == 2, f"virginica row: {rows[1]}"
        done.append(f"POST /api/v1.0/predictions -> names {names}, setosa row {[round(x, 4) for x in rows[0]]}")
        named = post(f"{url[9000]}/api/v1.0/predictions", {"data": {
            "names": list(reversed(FEATURES)), "ndarray": [list(reversed(SETOSA_CM))]}}, "named columns")
        assert abs(rows_of(named["data"])[0][0] - rows[0][0]) < 1e-9, f"named columns not reordered: {named}"
        done.append("named columns in another order give the same answer")
        done.append(refused(f"{url[9000]}/api/v1.0/predictions", {"data": {"ndarray": [[1, 2, 3]]}}, "3 features"))
        status, meta = http("GET", f"{url[9000]}/metadata")
        assert status == 200 and meta.get("name") == "iris-classifier", f"/metadata: {status} {meta}"
        metrics = wait_for(f"{url[6000]}/prometheus", lambda s, b: s == 200 and "iris_predictions" in str(b))
        line = next(x for x in metrics.splitlines() if x.startswith("iris_predictions"))
        done.append(f"GET :6000/prometheus -> {line[:110]}")
        # serve.py holds SIGTERM (SELDON_SHUTDOWN_DELAY, 10 s) as the operator's preStop sleep would have
        docker("kill", "--signal", "TERM", url["cid"])
        time.sleep(2)
        post(f"{url[9000]}/api/v1.0/predictions", {"data": {"ndarray": [SETOSA_CM]}}, "predict after SIGTERM")
        done.append("still answers 2 s after SIGTERM (serve.py's shutdown delay)")
    return done


def check_iris_transformer(image: str) -> list[str]:
    done = []
    with seldon_component(image) as url:
        body = post(f"{url[9000]}/transform-input", {"jsonData": dict(zip(FEATURES, SETOSA_CM))}, "jsonData")
        assert body["data"]["names"] == FEATURES and rows_of(body["data"]) == [SETOSA_CM], f"jsonData: {body}"
        assert body["meta"]["tags"].get("iris-transformer.input-unit") == "cm", f"tags: {body['meta']}"
        done.append(f"jsonData object -> {body['data']}")
        body = post(f"{url[9000]}/transform-input", {"data": {
            "names": ["petal_width", "petal_length", "sepal_width", "sepal_length"],
            "ndarray": [list(reversed(SETOSA_CM))]}}, "named columns")
        assert rows_of(body["data"]) == [SETOSA_CM], f"named columns: {body}"
        done.append("named columns reordered into FEATURES order")
        done.append(refused(f"{url[9000]}/transform-input", {"data": {"ndarray": [[5.1, -3.5, 1.4, 0.2]]}},
                            "negative measurement"))
        wait_for(f"{url[6000]}/prometheus", lambda s, b: s == 200 and "iris_transformed_rows" in str(b))
        # as an OUTPUT_TRANSFORMER: the model's probability rows (columns named, in any order) become labels
        body = post(f"{url[9000]}/transform-output", {"data": {"names": ["virginica", "setosa", "versicolor"],
                                                               "ndarray": [[0.01, 0.97, 0.02], [0.9, 0.04, 0.06]]}},
                    "transform-output")
        labels = [p["class"] for p in body["jsonData"]["predictions"]]
        assert labels == ["setosa", "virginica"], f"transform-output: {body}"
        assert body["meta"]["tags"].get("iris-transformer.output") == "labelled", f"tags: {body['meta']}"
        done.append(f"transform-output -> {body['jsonData']['predictions']}")
        done.append(refused(f"{url[9000]}/transform-output", {"data": {"ndarray": [[1.0, 2.0]]}}, "two columns"))
    params = json.dumps([{"name": "input_unit", "type": "STRING", "value": "in"}])
    with seldon_component(image, [9000], env={"PREDICTIVE_UNIT_PARAMETERS": params}) as url:
        inches = [round(x / 2.54, 4) for x in SETOSA_CM]
        body = post(f"{url[9000]}/transform-input", {"data": {"ndarray": [inches]}}, "inches")
        got = rows_of(body["data"])[0]
        assert all(abs(a - b) < 0.01 for a, b in zip(got, SETOSA_CM)), f"inches -> {got}"
        assert body["meta"]["tags"].get("iris-transformer.input-unit") == "in", f"tags: {body['meta']}"
        done.append(f"input_unit=in: {inches} in -> {got} cm")
    return done


def check_iris_combiner(image: str) -> list[str]:
    done = []
    with seldon_component(image) as url:
        request = {"seldonMessages": [
            {"data": {"names": CLASSES, "ndarray": [[0.9, 0.1, 0.0], [0.2, 0.2, 0.6]]}},
            {"data": {"names": ["virginica", "setosa", "versicolor"], "ndarray": [[0.0, 0.5, 0.5], [0.8, 0.0, 0.2]]}}]}
        body = post(f"{url[9000]}/aggregate", request, "aggregate")
        rows = rows_of(body["data"])
        want = [[0.7, 0.3, 0.0], [0.1, 0.2, 0.7]]
        assert body["data"]["names"] == CLASSES, f"names: {body['data']}"
        assert all(abs(a - b) < 1e-9 for r, w in zip(rows, want) for a, b in zip(r, w)), f"average: {rows} != {want}"
        assert body["meta"]["tags"].get("iris-combiner.members") == 2, f"tags: {body['meta']}"
        done.append(f"POST /aggregate (2 children, columns matched by name) -> {rows}")
        done.append(refused(f"{url[9000]}/aggregate", {"seldonMessages": [
            {"data": {"ndarray": [[0.5, 0.5, 0.0]]}}, {"data": {"ndarray": [[0.5, 0.5]]}}]}, "children with different shapes"))
    return done


@contextmanager
def iris_model_dir() -> Iterator[str]:
    """A folder holding the model.joblib the iris-model image trained (what the storage initializer downloads)."""
    with tempfile.TemporaryDirectory() as tmp:
        cid = docker("create", IMAGES["iris-model"]).stdout.strip()
        try:
            docker("cp", f"{cid}:/opt/component/model.joblib", f"{tmp}/model.joblib")
        finally:
            docker("rm", cid, check=False)
        os.chmod(tmp, 0o755)
        os.chmod(f"{tmp}/model.joblib", 0o644)
        yield tmp


@contextmanager
def xgboost_model_dir(image: str, python: str) -> Iterator[str]:
    """A folder holding an iris model.bst, trained by the image's own xgboost (msc.iris.TRAIN_XGBOOST)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)
        docker("run", "--rm", *RESTRICTED, "-v", f"{tmp}:/out", "--entrypoint", python, image, "-c", TRAIN_XGBOOST,
               "/out", timeout=300)
        os.chmod(tmp, 0o755)
        yield tmp


def check_mlserver_server(image: str, implementation: str, model_dir: Any, model_file: str) -> list[str]:
    """A v2 prepackaged server configured as the operator configures it (MLSERVER_MODEL_*, ports 9000/9500),
    serving the iris model from /mnt/models."""
    env = {"MLSERVER_MODEL_NAME": "classifier", "MLSERVER_MODEL_IMPLEMENTATION": implementation,
           "MLSERVER_MODEL_URI": "/mnt/models", "MLSERVER_MODEL_VERSION": "v1", "MLSERVER_HTTP_PORT": "9000",
           "MLSERVER_GRPC_PORT": "9500"}
    with model_dir as tmp, container(image, [9000, 9500], env=env, extra=["-v", f"{tmp}:/mnt/models:ro"]) as url:
        wait_for(f"{url[9000]}/v2/models/classifier/ready", timeout=120)
        request = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": SETOSA_CM + VIRGINICA_CM}]}
        status, body = http("POST", f"{url[9000]}/v2/models/classifier/infer", request)
        assert status == 200 and body["outputs"][0]["data"] == [0, 2], f"infer: HTTP {status} {body}"
        return [f"MLSERVER_MODEL_* from the operator, {model_file} in /mnt/models -> POST /v2/models/classifier/infer "
                f"-> {body['outputs'][0]['data']} (setosa, virginica)"]


def check_mlserver_sklearn(image: str) -> list[str]:
    return check_mlserver_server(image, "mlserver_sklearn.SKLearnModel", iris_model_dir(), "model.joblib of iris-model")


def check_mlserver_xgboost(image: str) -> list[str]:
    return check_mlserver_server(image, "mlserver_xgboost.XGBoostModel",
                                 xgboost_model_dir(image, "/opt/mlserver/bin/python"), "model.bst (TRAIN_XGBOOST)")


# Saves an AnchorTabular explainer of an iris classifier with the explainer image's own alibi (the predictor
# is not saved: alibiexplainer reattaches the remote model).
SAVE_ANCHOR_EXPLAINER = """
import sys
from alibi.explainers import AnchorTabular
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
iris = load_iris()
model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
explainer = AnchorTabular(model.predict_proba, feature_names=list(iris.feature_names))
explainer.fit(iris.data, disc_perc=(25, 50, 75))
explainer.save(sys.argv[1])
"""


@contextmanager
def anchor_explainer_dir(image: str = IMAGES["alibi-explainer"]) -> Iterator[str]:
    """A folder holding a saved AnchorTabular explainer of the iris model (what the explainer's storage
    initializer downloads), saved by the explainer image's own alibi."""
    with tempfile.TemporaryDirectory() as saved:
        os.chmod(saved, 0o777)
        docker("run", "--rm", *RESTRICTED, "-v", f"{saved}:/mnt/explainer", "--entrypoint", "/opt/alibi/bin/python",
               image, "-c", SAVE_ANCHOR_EXPLAINER, "/mnt/explainer", timeout=300)
        os.chmod(saved, 0o755)
        yield saved


def check_alibi_explainer(image: str) -> list[str]:
    """The explainer as the operator runs it, beside SKLEARN_SERVER serving the iris model: a saved AnchorTabular
    explainer in --storage_uri, POST /api/v1.0/explain returns an anchor for a setosa flower."""
    with anchor_explainer_dir(image) as saved, iris_model_dir() as model:
        params = json.dumps([{"name": "model_uri", "value": "/mnt/models", "type": "STRING"}])
        with seldon_component(IMAGES["sklearnserver"], [9000, 6000, 9080], env={"PREDICTIVE_UNIT_PARAMETERS": params},
                              extra=["-v", f"{model}:/mnt/models:ro"]) as url:
            args = ["--model_name", "classifier", "--predictor_host", "localhost:9000", "--protocol", "seldon.http",
                    "--http_port", "9080", "--storage_uri", "/mnt/explainer", "AnchorTabular"]
            with container(image, [], args, extra=["--network", f"container:{url['cid']}", "-v",
                                                   f"{saved}:/mnt/explainer:ro"]):
                t0 = time.monotonic()
                wait_for(f"{url[9080]}/", lambda s, b: s in (200, 404, 405), timeout=180)
                up = time.monotonic() - t0
                status, body = http("POST", f"{url[9080]}/api/v1.0/explain", {"data": {"ndarray": [SETOSA_CM]}},
                                    timeout=120)
                assert status == 200, f"explain: HTTP {status} {str(body)[:500]}"
                data = body["data"] if isinstance(body, dict) else json.loads(body)["data"]
                assert data["anchor"] and data["precision"] >= 0.9, f"anchor {data.get('anchor')}"
                return [f"saved AnchorTabular (iris), server up in {up:.0f}s, POST /api/v1.0/explain -> anchor "
                        f"{data['anchor']} precision {data['precision']:.2f}"]


def check_sklearnserver(image: str) -> list[str]:
    """SKLEARN_SERVER with the model the iris-model image trained, mounted where the storage initializer puts
    models (/mnt/models), configured as the operator configures it (PREDICTIVE_UNIT_PARAMETERS model_uri)."""
    return check_seldon_server(image, iris_model_dir(), "model.joblib of iris-model")


def check_xgboostserver(image: str) -> list[str]:
    """XGBOOST_SERVER (seldon protocol) with a model.bst its own xgboost trained, as the operator configures it."""
    return check_seldon_server(image, xgboost_model_dir(image, "/opt/seldon/bin/python"), "model.bst (TRAIN_XGBOOST)")


def check_seldon_server(image: str, model_dir: Any, model_file: str) -> list[str]:
    """A seldon-protocol prepackaged server answering predict_proba rows whose argmax are setosa and virginica."""
    with model_dir as tmp:
        params = json.dumps([{"name": "model_uri", "value": "/mnt/models", "type": "STRING"}])
        with seldon_component(image, [9000, 6000], env={"PREDICTIVE_UNIT_PARAMETERS": params},
                              extra=["-v", f"{tmp}:/mnt/models:ro"]) as url:
            body = post(f"{url[9000]}/api/v1.0/predictions", {"data": {"ndarray": [SETOSA_CM, VIRGINICA_CM]}},
                        "predict")
            rows = rows_of(body["data"])
            assert [max(range(3), key=r.__getitem__) for r in rows] == [0, 2], f"classes of {rows}"
            return [f"{model_file} from /mnt/models -> predict_proba {[[round(x, 3) for x in r] for r in rows]}"]


def check_router(image: str) -> list[str]:
    """A multi-armed-bandit ROUTER over two branches answers /route with a branch index."""
    params = json.dumps([{"name": "n_branches", "value": "2", "type": "INT"}, {"name": "seed", "value": "1", "type": "INT"}])
    with seldon_component(image, [9000, 6000], env={"PREDICTIVE_UNIT_PARAMETERS": params}) as url:
        branches = [rows_of(post(f"{url[9000]}/route", {"data": {"ndarray": [SETOSA_CM]}}, "route")["data"])[0][0]
                    for _ in range(10)]
        assert set(branches) <= {0, 1}, f"branches {branches}"
        return [f"POST /route x10 over 2 branches -> {branches}"]


def check_mlserver_iris(image: str) -> list[str]:
    done = []
    with container(image, [8080, 8081, 8082]) as url:
        wait_for(f"{url[8080]}/v2/health/ready", timeout=120)
        wait_for(f"{url[8080]}/v2/models/classifier/ready", timeout=60)
        request = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": SETOSA_CM + VIRGINICA_CM}]}
        status, body = http("POST", f"{url[8080]}/v2/models/classifier/infer", request)
        assert status == 200, f"infer: HTTP {status} {body}"
        out = body["outputs"][0]
        assert out["data"] == [0, 2], f"classes {out}"
        done.append(f"POST /v2/models/classifier/infer -> {out['name']} {out['data']} (setosa, virginica)")
        request["outputs"] = [{"name": "predict_proba"}]
        status, body = http("POST", f"{url[8080]}/v2/models/classifier/infer", request)
        assert status == 200 and body["outputs"][0]["shape"] == [2, 3], f"predict_proba: {status} {body}"
        done.append(f"predict_proba -> shape {body['outputs'][0]['shape']}, setosa p={body['outputs'][0]['data'][0]:.4f}")
        metrics = wait_for(f"{url[8082]}/prometheus", lambda s, b: s == 200 and "model_infer_request" in str(b))
        line = next(x for x in metrics.splitlines() if x.startswith("model_infer_request_success"))
        done.append(f"GET :8082/prometheus -> {line[:110]}")
        listening(url, "/opt/mlserver/bin/python", 8081)
        done.append("gRPC port 8081 accepts connections")
    return done


def check_helm_test_client(image: str) -> list[str]:
    script = ("import json, ssl, sys, urllib.request, http.client, socket, sqlite3; "
              "import os; print(json.dumps({'python': sys.version.split()[0], 'openssl': ssl.OPENSSL_VERSION, "
              "'ca_certificates': len(os.listdir(ssl.get_default_verify_paths().openssl_capath))}))")
    out = docker("run", "--rm", *RESTRICTED, image, "-c", script).stdout.strip()
    info = json.loads(out)
    assert info["python"].startswith("3.11"), info
    assert info["ca_certificates"] > 100, f"Debian's CA certificates missing: {info}"
    version = docker("run", "--rm", *RESTRICTED, image).stdout.strip()
    return [f"python3 -c (stdlib imports) -> {out}", f"default command -> {version}"]


def run_loadgen(spec: LoadSpec, network: str = "host", image: str = IMAGES["loadgen"]) -> LoadResult:
    """One load run of the loadgen image in plain Docker, restricted like its pods (msc.loadgen); its result."""
    proc = docker("run", "--rm", *RESTRICTED, "--network", network, image, spec.to_json(), check=False,
                  timeout=spec.seconds + 60)
    try:
        return parse_result(proc.stdout)
    except LoadgenError as err:
        raise AssertionError(f"{err}\n{proc.stderr.strip()[-800:]}") from err


def check_loadgen(image: str) -> list[str]:
    """vegeta and ghz report their pins; a fixed-rate GET of a loopback file server succeeds at its rate, a
    missing path counts as failed (404), and gRPC against a closed port fails every request (Unavailable)
    rather than the run. Real predictions under load: tests/cluster_kind/test_kind_loadgen.py."""
    done = [line for pin in ("vegeta", "ghz")
            for line in binary_versions(image, (f"/usr/local/bin/{pin}",), PINS["image_binaries"][pin]["reports"])]
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "index.html").write_text("ok\n")
        os.chmod(folder, 0o755)
        with serve_directory(folder) as port:
            ok = run_loadgen(rest(f"http://127.0.0.1:{port}/index.html", rate=20, duration=2))
            assert (ok.sent, ok.failed, ok.codes) == (40, 0, {"200": 40}), ok.describe()
            assert ok.throughput_rps > 15 and all(r.latency_ms > 0 for r in ok.requests), ok.describe()
            done.append(f"GET 20/s for 2 s -> {ok.describe()}")
            missing = run_loadgen(rest(f"http://127.0.0.1:{port}/missing", rate=10, duration=1, max_requests=5))
            assert (missing.sent, missing.failed, missing.codes) == (5, 5, {"404": 5}), missing.describe()
            done.append(f"GET of a missing path, max_requests 5 -> failed {missing.failed}, codes {missing.codes}")
    closed = run_loadgen(grpc("127.0.0.1:1", {"data": {"ndarray": [[1.0]]}}, rate=10, duration=1, timeout=2))
    assert closed.sent == 10 and closed.failed == 10 and set(closed.codes) == {"Unavailable"}, closed.describe()
    done.append(f"gRPC Seldon/Predict to a closed port -> failed {closed.failed}/{closed.sent}, codes {closed.codes}")
    return done


def binary_versions(image: str, binaries: tuple[str, ...], want: str) -> list[str]:
    """Each binary of a Go image (a name in /bin, or a path) runs (restricted) and reports the pinned version."""
    done = []
    for binary in binaries:
        path = binary if binary.startswith("/") else f"/bin/{binary}"
        out = docker("run", "--rm", *RESTRICTED, "--entrypoint", path, image, "--version")
        first = (out.stdout or out.stderr).splitlines()[0]
        assert want in first, f"{path} --version: {first}"
        done.append(f"{path} --version -> {first}")
    return done


def check_metrics_server(image: str) -> list[str]:
    """metrics-server reports v0.8.0 and has the kubelet flags a kind cluster needs (self-signed kubelet certs)."""
    done = binary_versions(image, ("/metrics-server",), PINS["image_binaries"]["metrics-server"]["reports"])
    out = docker("run", "--rm", *RESTRICTED, image, "--help", check=False)
    flags = ("--kubelet-insecure-tls", "--kubelet-preferred-address-types", "--cert-dir")
    assert all(f in out.stdout + out.stderr for f in flags), f"metrics-server --help lacks {flags}"
    done.append(f"--help lists {', '.join(flags)}")
    return done


def check_keda(image: str) -> list[str]:
    """The operator (/keda, the ENTRYPOINT), the metrics API server (/keda-adapter) and the admission webhooks
    (/keda-admission-webhooks) start and list their flags; each was checked for the 2.16.1 stamp when built
    (none has a --version flag)."""
    done = []
    for binary, flag in (("/keda", "--enable-cert-rotation"), ("/keda-adapter", "--metrics-service-address"),
                         ("/keda-admission-webhooks", "--health-probe-bind-address")):
        out = docker("run", "--rm", *RESTRICTED, "--entrypoint", binary, image, "--help", check=False)
        assert flag in out.stdout + out.stderr, f"{binary} --help lacks {flag}: {(out.stdout + out.stderr)[-400:]}"
        done.append(f"{binary} --help lists {flag}")
    return done


def check_rclone_storage_initializer(image: str) -> list[str]:
    """The operator's init container: `rclone copy <modelUri> /mnt/models`, here from an HTTP remote configured
    the way envSecretRefName Secrets configure one (RCLONE_CONFIG_<REMOTE>_*), served on loopback."""
    with tempfile.TemporaryDirectory() as src, tempfile.TemporaryDirectory() as dest:
        (Path(src) / "iris").mkdir()
        (Path(src) / "iris" / "model.joblib").write_bytes(b"not a real model, just bytes to copy\n" * 100)
        os.chmod(dest, 0o777)
        with serve_directory(src) as port:
            docker("run", "--rm", *RESTRICTED, "--network", "host", "-v", f"{dest}:/mnt/models",
                   "-e", "RCLONE_CONFIG_MODELSTORE_TYPE=http", "-e", f"RCLONE_CONFIG_MODELSTORE_URL=http://127.0.0.1:{port}/",
                   image, "modelstore:iris", "/mnt/models", timeout=120)
        copied = (Path(dest) / "model.joblib").read_bytes()
        assert copied == (Path(src) / "iris" / "model.joblib").read_bytes(), "copied model differs"
        version = docker("run", "--rm", *RESTRICTED, "--entrypoint", "rclone", image, "version").stdout.splitlines()[0]
        assert version == PINS["image_binaries"]["rclone-storage-initializer"]["reports"], version
        return [f"rclone copy modelstore:iris /mnt/models (http remote from RCLONE_CONFIG_MODELSTORE_*) -> "
                f"model.joblib, {len(copied)} bytes", f"rclone version -> {version}"]


@contextmanager
def serve_directory(folder: str) -> Iterator[int]:
    """A static file server on a free loopback port (python -m http.server), stopped on exit."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/", timeout=30)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def check_prometheus(image: str) -> list[str]:
    done = binary_versions(image, ("prometheus", "promtool"), PINS["image_binaries"]["prometheus"]["reports"])
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                          "  - job_name: self\n    static_configs:\n      - targets: ['localhost:9090']\n")
        config.chmod(0o644)
        os.chmod(tmp, 0o755)
        extra = ["-v", f"{config}:/etc/prometheus/prometheus.yml:ro", "--tmpfs", "/prometheus:uid=65532,gid=65532"]
        with container(image, [9090], extra=extra) as url:
            ready = wait_for(f"{url[9090]}/-/ready")
            done.append(f"GET /-/ready -> {str(ready).strip()}")
            up = wait_for(f"{url[9090]}/api/v1/query?query=up",
                          lambda s, b: s == 200 and isinstance(b, dict) and b["data"]["result"]
                          and b["data"]["result"][0]["value"][1] == "1", timeout=30)
            done.append(f"GET /api/v1/query?query=up -> {up['data']['result'][0]['metric']} = 1")
            status, info = http("GET", f"{url[9090]}/api/v1/status/buildinfo")
            assert status == 200 and info["data"]["version"] == PINS["image_binaries"]["prometheus"]["reports"], info
            done.append(f"buildinfo -> {info['data']['version']} ({info['data']['goVersion']})")
    return done


def check_prometheus_operator(image: str) -> list[str]:
    done = binary_versions(image, ("operator", "prometheus-config-reloader"),
                           PINS["image_binaries"]["prometheus-operator"]["reports"])
    out = docker("run", "--rm", *RESTRICTED, image, "--help", check=False)
    assert "prometheus-config-reloader" in out.stdout + out.stderr, "operator --help lacks its flags"
    return done


# ---------------------------------------------------------------- KServe

KSERVE_PYTHON = "/opt/kserve/bin/python"


@contextmanager
def kserve_model_dir(image: str) -> Iterator[str]:
    """A folder holding an iris model.joblib trained by the image's own scikit-learn (msc.iris.TRAIN_SKLEARN)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)
        docker("run", "--rm", *RESTRICTED, "-v", f"{tmp}:/out", "--entrypoint", KSERVE_PYTHON, image, "-c",
               TRAIN_SKLEARN, "/out", timeout=300)
        os.chmod(tmp, 0o755)
        yield tmp


SKLEARNSERVER_ARGS = ["--model_name=iris", "--model_dir=/mnt/models", "--http_port=8080"]   # as the runtime passes them


def check_kserve_sklearnserver(image: str) -> list[str]:
    """sklearnserver started as the kserve-sklearnserver ClusterServingRuntime starts it, the model in /mnt/models
    (where the storage initializer puts it): v1 predict, v2 infer (REST) and the gRPC port."""
    rows = [r for r, _ in IRIS_ROWS]
    with kserve_model_dir(image) as tmp, container(image, [8080, 8081], args=SKLEARNSERVER_ARGS,
                                                   extra=["-v", f"{tmp}:/mnt/models:ro"]) as url:
        ready = wait_for(f"{url[8080]}/v1/models/iris", lambda s, b: s == 200 and isinstance(b, dict) and b.get("ready"),
                         timeout=120)
        status, body = http("POST", f"{url[8080]}/v1/models/iris:predict", {"instances": rows})
        assert status == 200 and body == {"predictions": [0, 1, 2]}, f"v1 predict: HTTP {status} {body}"
        done = [f"GET /v1/models/iris -> {ready}", f"POST /v1/models/iris:predict (setosa, versicolor, virginica) -> {body}"]
        request = {"inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64",
                               "data": [x for r in rows for x in r]}]}
        status, body = http("POST", f"{url[8080]}/v2/models/iris/infer", request)
        assert status == 200 and body["outputs"][0]["data"] == [0, 1, 2], f"v2 infer: HTTP {status} {body}"
        done.append(f"POST /v2/models/iris/infer -> {body['outputs'][0]['data']}")
        status, body = http("POST", f"{url[8080]}/v1/models/iris:predict", {"instances": [[1.0, 2.0]]})
        assert status >= 400, f"a 2-feature row was accepted: HTTP {status} {body}"
        done.append(f"a 2-feature row -> HTTP {status} {str(body)[:100]}")
        listening(url, KSERVE_PYTHON, 8081)
        done.append("gRPC port 8081 accepts connections")
    return done


def check_kserve_storage_initializer(image: str) -> list[str]:
    """The init container the controller injects: `initializer-entrypoint <storageUri> /mnt/models`, here an https
    URI's plain-HTTP twin served on loopback (kserve-storage's http(s) download), and an unknown scheme refused."""
    with tempfile.TemporaryDirectory() as src, tempfile.TemporaryDirectory() as dest:
        (Path(src) / "model.joblib").write_bytes(b"not a real model, just bytes to copy\n" * 100)
        os.chmod(dest, 0o777)
        with serve_directory(src) as port:
            docker("run", "--rm", *RESTRICTED, "--network", "host", "-v", f"{dest}:/mnt/models", image,
                   f"http://127.0.0.1:{port}/model.joblib", "/mnt/models", timeout=120)
        copied = (Path(dest) / "model.joblib").read_bytes()
        assert copied == (Path(src) / "model.joblib").read_bytes(), "downloaded model differs"
        bad = docker("run", "--rm", *RESTRICTED, "-v", f"{dest}:/mnt/models", image, "nosuch://bucket/model",
                     "/mnt/models", check=False)
        assert bad.returncode != 0, f"an unknown scheme was accepted: {bad.stdout[-300:]}"
        return [f"initializer-entrypoint http://127.0.0.1:{port}/model.joblib /mnt/models -> {len(copied)} bytes",
                f"nosuch://bucket/model -> exit {bad.returncode}: {(bad.stderr or bad.stdout).strip().splitlines()[-1][:120]}"]


def check_kserve_controller(image: str) -> list[str]:
    """The controller starts (restricted) and has the flags the chart passes."""
    out = docker("run", "--rm", *RESTRICTED, image, "-help", check=False)
    flags = ("-metrics-addr", "-webhook-port", "-leader-elect", "-health-probe-addr")
    missing = [f for f in flags if f not in out.stdout + out.stderr]
    assert not missing, f"-help lacks {missing}: {(out.stdout + out.stderr)[-500:]}"
    return [f"-help lists {', '.join(flags)}"]


def check_kserve_router(image: str) -> list[str]:
    """The InferenceGraph router as the controller runs it (--graph-json; port 8080): a Sequence of one step, the
    sklearnserver, on a Docker network; its answer is the step's."""
    server = IMAGES["kserve-sklearnserver"]
    network = f"msc-smoke-router-{os.getpid()}"
    docker("network", "create", network)
    try:
        with kserve_model_dir(server) as tmp, container(server, [8080], args=SKLEARNSERVER_ARGS, extra=[
                "--network", network, "--network-alias", "iris", "-v", f"{tmp}:/mnt/models:ro"]) as model:
            wait_for(f"{model[8080]}/v1/models/iris", lambda s, b: s == 200 and isinstance(b, dict) and b.get("ready"),
                     timeout=120)
            graph = {"nodes": {"root": {"routerType": "Sequence", "steps": [
                {"name": "iris", "serviceUrl": "http://iris:8080/v1/models/iris:predict"}]}}}
            with container(image, [8080], args=["--graph-json", json.dumps(graph)],
                           extra=["--network", network]) as url:
                wait_for(f"{url[8080]}/readyz", timeout=30)
                rows = [r for r, _ in IRIS_ROWS]
                status, body = http("POST", url[8080], {"instances": rows})
                assert status == 200 and body == {"predictions": [0, 1, 2]}, f"graph: HTTP {status} {body}"
                return [f"Sequence root -> sklearnserver: POST / -> {body}"]
    finally:
        docker("network", "rm", network, check=False)


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "kserve-sklearnserver": check_kserve_sklearnserver, "kserve-storage-initializer": check_kserve_storage_initializer,
    "kserve-controller": check_kserve_controller, "kserve-router": check_kserve_router,
    "metrics-server": check_metrics_server, "keda": check_keda,
    "loadgen": check_loadgen,
    "iris-model": check_iris_model, "iris-transformer": check_iris_transformer, "iris-combiner": check_iris_combiner,
    "mlserver-iris": check_mlserver_iris, "sklearnserver": check_sklearnserver,
    "mab-epsilon-greedy": check_router, "mab-thompson-sampling": check_router, "helm-test-client": check_helm_test_client,
    "prometheus": check_prometheus, "prometheus-operator": check_prometheus_operator,
    "rclone-storage-initializer": check_rclone_storage_initializer, "mlserver-sklearn": check_mlserver_sklearn,
    "alibi-explainer": check_alibi_explainer, "xgboostserver": check_xgboostserver,
    "mlserver-xgboost": check_mlserver_xgboost,
}


def run_checks(names: list[str]) -> dict[str, list[str]]:
    results = {}
    for name in names:
        image = IMAGES[name]
        if docker("image", "inspect", image, check=False).returncode != 0:
            raise AssertionError(f"{image} is not built: run `scripts/images {name}`")
        results[name] = image_checks(image) + CHECKS[name](image)
    return results


def main(argv: list[str]) -> int:
    names = argv or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"unknown image(s) {unknown}; choose from {list(CHECKS)}")
        return 2
    failed = []
    for name in names:
        t0 = time.monotonic()
        try:
            lines = run_checks([name])[name]
        except AssertionError as err:
            failed.append(name)
            print(f"FAIL {name} ({IMAGES[name]}, {time.monotonic() - t0:.1f}s)\n  {err}", flush=True)
            continue
        print(f"ok   {name} ({IMAGES[name]}, {time.monotonic() - t0:.1f}s)", flush=True)
        for line in lines:
            print(f"       {line}", flush=True)
    print(f"{len(names) - len(failed)}/{len(names)} images passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0
