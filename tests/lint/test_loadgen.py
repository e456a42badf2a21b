"""msc.loadgen and the loadgen image's entry program (msc/loadgen_run.py) without a cluster or Docker: the spec
is checked, the Job is valid for every Kubernetes minor and restricted, and vegeta's and ghz's own output
(canned here, in the formats of the pinned versions) becomes the one JSON document that parse_result reads."""
from __future__ import annotations

import ast
import base64
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from harness import ROOT
from harness.validate import validate_object
from msc import loadgen, loadgen_run
from msc.images.apps import LOADGEN_PROTOS

pytestmark = pytest.mark.lint

T0 = "2026-12-05T03:00:00"


def vegeta_line(offset_ms: int, code: int, latency_ms: float, error: str = "") -> str:
    """A line of `vegeta encode -to json` (v12.13.0 lib/results.go; timestamp = when the request was sent)."""
    s, ms = divmod(offset_ms, 1000)
    return json.dumps({"attack": "", "seq": 0, "code": code, "timestamp": f"{T0[:-2]}{s:02d}.{ms:03d}000123Z",
                       "latency": int(latency_ms * 1e6), "bytes_out": 10, "bytes_in": 20, "error": error,
                       "body": None, "method": "POST", "url": "http://x/", "headers": None})


def run_entry(spec: loadgen.LoadSpec, monkeypatch: pytest.MonkeyPatch, answer) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """loadgen_run.main with the tools replaced by answer(cmd) -> stdout; returns (exit code, stdout)."""
    calls: list[list[str]] = []

    def fake_run(cmd: list[str]) -> str:
        calls.append(cmd)
        return answer(cmd)
    monkeypatch.setattr(loadgen_run, "run", fake_run)
    out = io.StringIO()
    with redirect_stdout(out):
        code = loadgen_run.main(["loadgen_run.py", spec.to_json()])
    run_entry.calls = calls  # type: ignore[attr-defined]
    return code, out.getvalue()


def test_rest_results_become_one_document(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = loadgen.seldon_rest("http://iris.models.svc:9000", rate=4, duration=2, timeout=1)
    lines = [vegeta_line(0, 200, 5), vegeta_line(250, 200, 7), vegeta_line(500, 500, 3), vegeta_line(750, 200, 9),
             vegeta_line(1000, 0, 1000, "Post \"http://x/\": context deadline exceeded"), vegeta_line(1250, 200, 4),
             vegeta_line(1500, 200, 6), vegeta_line(1750, 200, 8)]

    def vegeta(cmd: list[str]) -> str:
        if cmd[1] == "attack":
            target = json.loads(Path(cmd[3].split("=", 1)[1]).read_text())
            assert target["method"] == "POST" and target["url"].endswith("/api/v1.0/predictions")
            assert json.loads(base64.b64decode(target["body"])) == spec.body
            assert "-rate=4/1s" in cmd and "-duration=2.000000s" in cmd and "-timeout=1s" in cmd
            return ""
        return "\n".join(reversed(lines))   # out of order: rows come back sorted by sending time
    code, out = run_entry(spec, monkeypatch, vegeta)
    assert code == 0 and len(out.strip().splitlines()) == 1
    result = loadgen.parse_result("some log line\n" + out)
    assert (result.sent, result.succeeded, result.failed) == (8, 6, 2)
    assert result.codes == {"0": 1, "200": 6, "500": 1}
    assert result.errors == {"Post \"http://x/\": context deadline exceeded": 1}
    assert [r.code for r in result.failures()] == ["500", "0"]
    assert result.failures()[1].t - result.started == pytest.approx(1.0)
    assert (result.latency_ms.p50, result.latency_ms.p99, result.latency_ms.max) == (6, 1000, 1000)
    assert [(b["sent"], b["failed"]) for b in result.buckets] == [(4, 1), (4, 1)]
    window = result.window(result.started + 0.9, result.started + 1.3)
    assert (window.sent, window.failed, window.codes) == (2, 1, {"0": 1, "200": 1})


def test_grpc_results_use_the_sending_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """ghz's details carry the END of each call; the document gives when each request was sent."""
    spec = loadgen.seldon_grpc("iris.models.svc:5000", rate=10, duration=1, max_requests=3, timeout=2)
    details = [{"timestamp": f"{T0}.100000000Z", "latency": 100_000_000, "error": "", "status": "OK"},
               {"timestamp": f"{T0}.350000000Z", "latency": 150_000_000, "error": "", "status": "OK"},
               {"timestamp": f"{T0}.400000000Z", "latency": 100_000_000, "error": "rpc error: code = Unavailable",
                "status": "Unavailable"}]

    def ghz(cmd: list[str]) -> str:
        flags = [a for a in cmd[1:-1] if a not in ("--insecure", "--async")]
        args = dict(zip(flags[::2], flags[1::2]))
        assert {"--insecure", "--async"} <= set(cmd), "plaintext, open loop"
        assert args["--proto"] == "/protos/seldon/prediction.proto" and args["--call"] == "seldon.protos.Seldon/Predict"
        assert (args["--total"], args["--rps"], args["--timeout"], args["--concurrency"]) == ("3", "10", "2s", "3")
        assert json.loads(args["--data"]) == spec.body and cmd[-1] == spec.target
        Path(args["--output"]).write_text(json.dumps({"count": 3, "details": details}))
        return ""
    code, out = run_entry(spec, monkeypatch, ghz)
    result = loadgen.parse_result(out)
    assert code == 0 and (result.sent, result.failed, result.codes) == (3, 1, {"OK": 2, "Unavailable": 1})
    assert [round(r.t - result.started, 3) for r in result.requests] == [0.0, 0.2, 0.3]
    assert result.planned == spec.requests == 3


def test_a_run_that_cannot_start_is_an_error_not_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cmd: list[str]) -> str:
        raise loadgen_run.ToolFailed("ghz exited 1: open /protos/x.proto: no such file")
    code, out = run_entry(loadgen.seldon_grpc("h:1"), monkeypatch, broken)
    assert code == 1
    with pytest.raises(loadgen.LoadgenError, match="no such file"):
        loadgen.parse_result(out)
    with pytest.raises(loadgen.LoadgenError, match="no loadgen result"):
        loadgen.parse_result("Error: ImagePullBackOff\n")


@pytest.mark.parametrize("kw, message", [
    ({"protocol": "udp", "target": "x"}, "protocol 'udp'"),
    ({"protocol": "rest", "target": "iris:9000"}, "a rest target is a URL"),
    ({"protocol": "grpc", "target": "http://iris:5000"}, "a grpc target is host:port"),
    ({"protocol": "grpc", "target": "iris:5000", "proto": "tfserving"}, "proto 'tfserving'"),
    ({"protocol": "rest", "target": "http://x", "rate": 0.5}, "rate 0.5 must be an integer"),
    ({"protocol": "rest", "target": "http://x", "duration": 0}, "must be > 0 seconds"),
    ({"protocol": "rest", "target": "http://x", "max_requests": 0}, "max_requests 0"),
])
def test_bad_specs_are_refused_with_the_reason(kw: dict, message: str) -> None:
    with pytest.raises(loadgen.LoadgenError, match=message):
        loadgen.LoadSpec(**kw)


def test_the_job_is_valid_restricted_and_bounded() -> None:
    spec = loadgen.v2_grpc("mlserver.models.svc:9500", "classifier", batch=32, rate=50, duration=30)
    job = loadgen.job_manifest(spec, "load-v2", "models", node_selector={"kubernetes.io/hostname": "msc-worker"})
    assert validate_object(job) == []
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["automountServiceAccountToken"] is False
    assert {"requests", "limits"} <= set(container["resources"]) and pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] >= spec.seconds
    sent = json.loads(container["args"][0])
    assert sent["proto"] == "v2" and sent["body"]["inputs"][0]["shape"] == [32, 4]
    assert loadgen_run.request_count(sent) == spec.requests == 1500


def test_the_entry_program_runs_alone_and_finds_its_protos() -> None:
    """The image runs loadgen_run.py without the msc package; every proto it names is copied into the image."""
    source = Path(loadgen_run.__file__)
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(source.read_text())) if isinstance(n, ast.Import)
                for a in n.names} | {n.module.split(".")[0] for n in ast.walk(ast.parse(source.read_text()))
                                     if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= sys.stdlib_module_names, f"loadgen_run.py imports {imported - sys.stdlib_module_names}"
    assert source.parent == ROOT / "scripts" / "msc"
    assert set(LOADGEN_PROTOS) == set(loadgen_run.PROTOS)
    for name, (main, _) in loadgen_run.PROTOS.items():
        assert main in LOADGEN_PROTOS[name][1], f"/protos/{name}/{main} is not copied into the image"


def test_percentiles_are_nearest_rank() -> None:
    ordered = list(range(1, 101))
    assert [loadgen_run.percentile(ordered, p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert loadgen_run.percentile([], 99) == 0.0
    assert loadgen_run.unix_time("2026-12-05T03:00:00.5+01:00") == pytest.approx(
        loadgen_run.unix_time("2026-12-05T02:00:00Z") + 0.5)


class FakeKubectl:
    """Answers `kubectl get pods -l job-name=...` with the pods given, one list per call."""
    def __init__(self, *answers: list[dict]) -> None:
        self.answers = list(answers)

    def json(self, *args: str) -> dict:
        assert args[:2] == ("get", "pods") and "job-name=load" in args
        return {"items": self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]}


def pod(phase: str, **state: dict) -> dict:
    return {"metadata": {"name": "load-x"}, "status": {"phase": phase, "containerStatuses": [{"state": state}]}}


def test_wait_sending_returns_once_the_pod_runs_and_says_why_it_does_not() -> None:
    loadgen.wait_sending(FakeKubectl([], [pod("Pending")], [pod("Running", running={})]), "load", "ns", timeout=10)
    never = FakeKubectl([pod("Pending", waiting={"reason": "ErrImageNeverPull", "message": "image not present"})])
    with pytest.raises(loadgen.LoadgenError, match="ErrImageNeverPull image not present"):
        loadgen.wait_sending(never, "load", "ns", timeout=0.5)
    with pytest.raises(loadgen.LoadgenError, match="failed: load-x: Failed"):
        loadgen.wait_sending(FakeKubectl([pod("Failed", terminated={"reason": "Error"})]), "load", "ns", timeout=5)
