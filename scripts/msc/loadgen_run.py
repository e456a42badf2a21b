"""The load generator's entry program: the localhost/ml-serving-charts/loadgen image runs it (images/loadgen), msc.loadgen
builds its Job and reads its answer. It runs alone in the pod (python3's standard library, no msc package):
vegeta (HTTP) or ghz (gRPC) sends requests at a fixed rate for a bounded time and count, and this prints ONE
JSON document of the results on stdout (the format is below, `summary`), then exits 0; 1 when the tool could
not run at all (the document then carries `error`).

argv[1]: the run as JSON (msc.loadgen.LoadSpec.to_json):
  protocol  "rest" (vegeta) or "grpc" (ghz)
  target    rest: the URL; grpc: host:port (plaintext)
  rate      requests per second (an integer >= 1), sent open-loop: a slow answer does not delay the next request
  duration  seconds; max_requests (optional) ends the run earlier: count = min(rate * duration, max_requests)
  timeout   seconds per request; a request that takes longer fails
  body      rest: the JSON body (none: no body); grpc: the request message as JSON
  method, headers               rest only
  proto, call, metadata         grpc: proto "seldon" or "v2" (the files under /protos) and the full method name
  connections, concurrency      grpc: connections to open, and workers (ghz -c) sharing the rate
  bucket    seconds per bucket of the time series in the answer

A request fails when its HTTP status is not 2xx (0 = no answer: refused, reset, timed out) or its gRPC status
is not OK. Latency percentiles are over every request, failed ones included."""
import base64
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime

VEGETA = "/usr/local/bin/vegeta"
GHZ = "/usr/local/bin/ghz"
PROTO_ROOT = "/protos"
# proto name -> (its main file under PROTO_ROOT/<name>/, the default call)
PROTOS = {"seldon": ("prediction.proto", "seldon.protos.Seldon/Predict"),
          "v2": ("grpc_service.proto", "inference.GRPCInferenceService/ModelInfer")}
REQUEST_FIELDS = ["t", "latency_ms", "code", "error"]   # one row per request in `requests`, in sending order
FORMAT = 1
ERROR_CHARS = 240   # of each request's error (`errors` counts the full messages)


def request_count(spec: dict) -> int:
    """How many requests the run sends: rate x duration, capped by max_requests."""
    count = int(round(spec["rate"] * spec["duration"]))
    return min(count, spec["max_requests"]) if spec.get("max_requests") else count


def unix_time(stamp: str) -> float:
    """An RFC 3339 time as Go writes it (nanoseconds, Z or an offset) in unix seconds."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    whole = datetime.fromisoformat(m.group(1) + zone).timestamp()
    return whole + float("0." + m.group(2)) if m.group(2) else whole


def succeeded(code: str) -> bool:
    return code == "OK" or (len(code) == 3 and code.startswith("2"))


def percentile(ordered: list, p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for none)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(latencies: list) -> dict:
    ordered = sorted(latencies)
    return {"p50": round(percentile(ordered, 50), 3), "p90": round(percentile(ordered, 90), 3),
            "p99": round(percentile(ordered, 99), 3), "max": round(ordered[-1], 3) if ordered else 0.0,
            "mean": round(sum(ordered) / len(ordered), 3) if ordered else 0.0}


def summary(requests: list, started: float, bucket: float = 1.0) -> dict:
    """The counts, codes, errors, latency percentiles and time buckets of request rows [t, latency_ms, code,
    error] (t: seconds after `started`, the first request's sending time). msc.loadgen uses it for windows too."""
    codes, errors = {}, {}
    for _, _, code, error in requests:
        codes[code] = codes.get(code, 0) + 1
        if error:
            errors[error] = errors.get(error, 0) + 1
    failed = sum(1 for r in requests if not succeeded(r[2]))
    # from the first request sent to the last answer
    elapsed = max((t + ms / 1000 for t, ms, _, _ in requests), default=0.0) - min((r[0] for r in requests), default=0.0)
    buckets = {}
    for t, ms, code, _ in requests:
        buckets.setdefault(int(t // bucket), []).append((ms, succeeded(code)))
    return {
        "started": started, "elapsed_s": round(elapsed, 3), "sent": len(requests),
        "succeeded": len(requests) - failed, "failed": failed,
        "throughput_rps": round((len(requests) - failed) / elapsed, 3) if elapsed > 0 else 0.0,
        "codes": dict(sorted(codes.items())), "errors": dict(sorted(errors.items(), key=lambda e: -e[1])[:20]),
        "latency_ms": latency_summary([r[1] for r in requests]),
        "bucket_s": bucket,
        "buckets": [{"t": round(i * bucket, 3), "sent": len(rows), "failed": sum(1 for _, ok in rows if not ok),
                     "p99_ms": round(percentile(sorted(ms for ms, _ in rows), 99), 3)}
                    for i, rows in sorted(buckets.items())],
    }


def rows_of(raw: list) -> tuple:
    """(started, rows) from raw (sent unix time, latency ms, code, error) tuples: rows in sending order, t relative."""
    raw = sorted(raw, key=lambda r: r[0])
    started = raw[0][0] if raw else 0.0
    return started, [[round(s - started, 6), round(ms, 3), code, error[:ERROR_CHARS]] for s, ms, code, error in raw]


def vegeta(spec: dict, work: str) -> list:
    """HTTP at a constant rate; raw results from `vegeta encode -to json` (timestamp = when the request was sent)."""
    target = {"method": spec.get("method", "POST" if spec.get("body") is not None else "GET"), "url": spec["target"],
              "header": {k: [v] for k, v in {"Content-Type": "application/json", **spec.get("headers", {})}.items()}}
    if spec.get("body") is not None:
        target["body"] = base64.b64encode(json.dumps(spec["body"]).encode()).decode()
    with open(os.path.join(work, "targets.json"), "w") as fh:
        fh.write(json.dumps(target) + "\n")
    seconds = request_count(spec) / spec["rate"]
    results = os.path.join(work, "results.bin")
    run([VEGETA, "attack", "-format=json", f"-targets={work}/targets.json", f"-rate={spec['rate']}/1s",
         f"-duration={seconds:.6f}s", f"-timeout={float(spec['timeout']):g}s", "-max-body=0", f"-output={results}"])
    raw = []
    for line in run([VEGETA, "encode", "-to=json", results]).splitlines():
        r = json.loads(line)
        raw.append((unix_time(r["timestamp"]), r["latency"] / 1e6, str(r["code"]), r.get("error", "")))
    return raw


def ghz(spec: dict, work: str) -> list:
    """gRPC at a constant rate (--async: open loop); raw results from the report's details (timestamp = the end
    of the call, so the sending time is timestamp - latency)."""
    name = spec.get("proto", "seldon")
    if name not in PROTOS:
        raise ValueError(f"proto {name!r}: the image has {sorted(PROTOS)}")
    main, default_call = PROTOS[name]
    count = request_count(spec)
    out = os.path.join(work, "report.json")
    cmd = [GHZ, "--insecure", "--proto", f"{PROTO_ROOT}/{name}/{main}", "--import-paths", f"{PROTO_ROOT}/{name}",
           "--call", spec.get("call") or default_call, "--data", json.dumps(spec.get("body") or {}),
           "--rps", str(spec["rate"]), "--total", str(count), "--async",
           "--concurrency", str(min(spec.get("concurrency", 50), count)), "--connections", str(spec.get("connections", 1)),
           "--timeout", f"{float(spec['timeout']):g}s", "--format", "json", "--output", out]
    if spec.get("metadata"):
        cmd += ["--metadata", json.dumps(spec["metadata"])]
    run(cmd + [spec["target"]])
    with open(out) as fh:
        report = json.load(fh)
    return [(unix_time(d["timestamp"]) - d["latency"] / 1e9, d["latency"] / 1e6, d.get("status") or "Unknown",
             d.get("error", "")) for d in report.get("details") or []]


class ToolFailed(Exception):
    pass


def run(cmd: list) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolFailed(f"{os.path.basename(cmd[0])} exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc.stdout


def main(argv: list) -> int:
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) == 2 else 2
    spec = json.loads(argv[1])
    head = {"format": FORMAT, "protocol": spec["protocol"], "target": spec["target"], "rate": spec["rate"],
            "planned": request_count(spec)}
    try:
        with tempfile.TemporaryDirectory(prefix="loadgen-") as work:
            raw = (vegeta if spec["protocol"] == "rest" else ghz)(spec, work)
    except (ToolFailed, OSError, ValueError) as err:
        print(json.dumps({**head, "error": str(err)}))
        return 1
    started, rows = rows_of(raw)
    print(json.dumps({**head, **summary(rows, started, spec.get("bucket", 1.0)), "request_fields": REQUEST_FIELDS,
                      "requests": rows}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
