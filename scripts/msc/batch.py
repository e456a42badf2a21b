"""Batch inference (seldon-model `batch`, issue 20) outside the chart: the iris input the tests and the benchmark
send, the shard program's reports and output read back and checked, and one batch run in plain Docker (each shard
a container of a seldon image running the chart's own charts/seldon-model/files/batch/shard.py against a model
server on a user-defined network, restricted as the Job's pods are).

    rows = iris_input(10_000)                       # [(row, expected class)], every class, rows differ
    run = run_in_docker(network, "iris:9000", "rest", input_lines(rows), shards=4, workers=4)
    check_output(run.merged, rows)                  # one answer per line, in order, each correct; raises BatchError
    print(run.describe())                           # "4 shards rest: 10000 rows in 12.3 s = 813 rows/s, failed 0"
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import CHARTS
from .images.smoke import RESTRICTED, docker
from .iris import CLASSES, IRIS_ROWS
from .proc import MscError

Obj = dict[str, Any]
SHARD_PROGRAM = CHARTS / "seldon-model" / "files" / "batch" / "shard.py"
REPORT = "shard"        # the "batch" key of the line each shard prints
PYTHON = "/opt/seldon/bin/python"


class BatchError(MscError):
    """A batch output that is not one correct answer per input line, or a shard that did not report."""


def iris_input(count: int) -> list[tuple[list[float], str]]:
    """`count` iris rows with their class: the three textbook flowers in turn, each moved by a small step that
    differs per line (so no two neighbouring lines are the same request) and keeps the flower in its class."""
    rows = []
    for i in range(count):
        flower, label = IRIS_ROWS[i % len(IRIS_ROWS)]
        step = ((i // len(IRIS_ROWS)) % 11 - 5) / 100      # -0.05 .. +0.05 cm
        rows.append(([round(x + step, 2) for x in flower], label))
    return rows


def input_lines(rows: list[tuple[list[float], str]], protocol: str = "seldon") -> str:
    """The input file: one request per line: seldon `dataType: data`, a batch of one row ([[...]]); v2 an
    inference request with one FP64 row (MLServer's processor reads whole requests)."""
    if protocol == "v2":
        return "".join(json.dumps({"inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP64",
                                               "data": row}]}) + "\n" for row, _ in rows)
    return "".join(json.dumps([row]) + "\n" for row, _ in rows)


def tags(doc: Obj) -> Obj:
    """Where an output line keeps batch_index: meta.tags, meta (seldon error lines) or parameters (v2)."""
    if "meta" not in doc:
        return doc.get("parameters") or {}
    return doc["meta"] if "batch_index" in doc["meta"] else doc["meta"].get("tags", {})


def error_of(doc: Obj) -> str | None:
    """The error of a failed line (seldon's status.reason, MLServer's error.msg), "" without one; None if it
    did not fail."""
    if "error" in doc:
        return str(doc["error"].get("msg", "")) if isinstance(doc["error"], dict) else str(doc["error"])
    status = doc.get("status")
    if isinstance(status, dict) and status.get("info") == "FAILURE":
        return str(status.get("reason", ""))
    return None


def answer_class(line: Obj) -> str:
    """The class of one answer line: the model's probability row (columns named by class), or a v2 answer's
    first output (a class index, as mlserver-iris's `predict`, or probabilities)."""
    if "outputs" in line:
        values = line["outputs"][0]["data"]
        return CLASSES[int(values[0])] if len(values) == 1 else CLASSES[max(range(len(values)), key=values.__getitem__)]
    data = line["data"]
    names = data.get("names") or CLASSES
    if "ndarray" in data:
        probs = data["ndarray"][0]
    else:
        probs = data["tensor"]["values"]
    return names[max(range(len(probs)), key=probs.__getitem__)]


def check_output(lines: list[str], rows: list[tuple[list[float], str]], rejected: set[int] = frozenset()) -> Obj:
    """Raise BatchError unless `lines` hold one line per input row in input order, batch_index 0..n-1 each once,
    every answer's class the row's own, and exactly the `rejected` lines failed (with a reason). Returns
    {rows, failed, batch_ids, shards}."""
    problems: list[str] = []
    if len(lines) != len(rows):
        problems.append(f"{len(lines)} output lines for {len(rows)} input lines")
    docs = [json.loads(line) for line in lines]
    indexes = [tags(d).get("batch_index") for d in docs]
    if indexes != list(range(len(docs))):
        seen: dict[Any, int] = {}
        for i in indexes:
            seen[i] = seen.get(i, 0) + 1
        twice = sorted(str(i) for i, n in seen.items() if n > 1)[:10]
        missing = sorted(set(range(len(rows))) - set(seen))[:10]
        problems.append(f"batch_index not 0..{len(rows) - 1} in order: twice {twice}, missing {missing}")
    failed, wrong = [], []
    for i, (doc, (_, label)) in enumerate(zip(docs, rows)):
        error = error_of(doc)
        if error is not None:
            failed.append(i)
            if i in rejected and not error:
                problems.append(f"line {i} failed without a reason: {doc}")
        elif answer_class(doc) != label:
            wrong.append(f"line {i}: {answer_class(doc)} for a {label}")
    if set(failed) != set(rejected):
        problems.append(f"failed lines {failed[:10]} (of {len(failed)}), expected {sorted(rejected)[:10]}")
    if wrong:
        problems.append(f"{len(wrong)} wrong answers: {wrong[:5]}")
    if problems:
        raise BatchError("batch output: " + "; ".join(problems))
    found = [tags(d) for d in docs]
    return {"rows": len(docs), "failed": len(failed), "batch_ids": sorted({str(t.get("batch_id")) for t in found}),
            "shards": sorted({t.get("batch_shard") for t in found})}


def reports(output: str) -> list[Obj]:
    """The JSON lines a shard printed (its report, or {"error": ...})."""
    found = []
    for line in output.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("batch") == REPORT:
            found.append(doc)
    return found


@dataclass
class DockerRun:
    """One batch run in Docker: every shard's report and exit code, the merged output's lines, the wall time."""
    transport: str
    shards: int
    seconds: float
    reports: list[Obj]
    exit_codes: list[int]
    logs: list[str]
    merged: list[str]
    output_dir: Path

    @property
    def rows_per_s(self) -> float:
        rows = sum(r.get("rows", 0) for r in self.reports if not r.get("skipped"))
        return rows / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        rows = sum(r.get("rows", 0) for r in self.reports)
        failed = sum(r.get("failed", 0) for r in self.reports)
        return (f"{self.shards} shard(s) {self.transport}: {rows} rows in {self.seconds:.1f} s = "
                f"{self.rows_per_s:.0f} rows/s, failed {failed}")


def run_in_docker(network: str, endpoint: str, transport: str, input_text: str | None, *,
                  shards: int = 1, workers: int = 4, batch_size: int = 1, retries: int = 3, work: Path | None = None,
                  image: str = "localhost/ml-serving-charts/iris-model:0.1.0", input_name: str = "input.jsonl",
                  ready_url: str = "", only: list[int] | None = None, timeout: float = 900,
                  protocol: str = "seldon", model: str = "", python: str = PYTHON) -> DockerRun:
    """Every shard (or the `only` ones) as its own container, all at once, reading `work`/input_name and writing
    `work`/output (bind mounts: the PVC of the chart's Job). input_text None leaves the input as it is (or
    missing). Each container is restricted as the Job's pods are (msc.images.smoke.RESTRICTED). Returns when every
    container exited."""
    work = work or Path(tempfile.mkdtemp(prefix="msc-batch-"))
    os.chmod(work, 0o777)
    if input_text is not None:
        (work / input_name).write_text(input_text)
        os.chmod(work / input_name, 0o644)
    results: dict[int, Any] = {}

    def shard(index: int) -> None:
        results[index] = docker(
            "run", "--rm", *RESTRICTED, "--network", network, "-v", f"{work}:/data",
            "-v", f"{SHARD_PROGRAM.parent}:/opt/batch:ro", "-e", f"JOB_COMPLETION_INDEX={index}",
            "-e", "BATCH_ID=docker-batch", "--entrypoint", python, image, "/opt/batch/shard.py",
            "--protocol", protocol, *(["--model", model] if model else []),
            "--input", f"/data/{input_name}", "--output-dir", "/data/output", "--merged-name", "output.jsonl",
            "--shards", str(shards), "--endpoint", endpoint, "--transport", transport, "--workers", str(workers),
            "--batch-size", str(batch_size), "--retries", str(retries), *(["--ready-url", ready_url] if ready_url else []),
            check=False, timeout=timeout)
    started = time.monotonic()
    threads = [threading.Thread(target=shard, args=(i,)) for i in (only if only is not None else range(shards))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    procs = [results[i] for i in sorted(results)]
    merged_file = work / "output" / "output.jsonl"
    merged = merged_file.read_text().splitlines() if merged_file.exists() else []
    return DockerRun(transport, shards, seconds, [r for p in procs for r in reports(p.stdout)],
                     [p.returncode for p in procs], [p.stdout[-2000:] + p.stderr[-3000:] for p in procs], merged, work)
