"""One shard of a batch run: Seldon Core 1.17.1's batch processor (seldon_core.batch_processor, the code behind
`seldon-batch-processor`; --protocol v2: MLServer's, mlserver.batch_processing behind `mlserver infer`) over this
shard's slice of the input, then the shard's part file, then (last shard to finish, with --merged-name) the merged
output. Runs in any image with the seldon-core package (or, for v2, mlserver); standard library + that package
only (the images have no shell).

Why not the CLI alone: it reads a whole file (no slice), answers over gRPC lose the request tags (the output
line cannot be matched to its input line), and a rejected row is written with an empty reason (`assert
success`). So the processor runs in-process with a client that keeps the tags on every answer and raises the
server's own message; this program slices, renumbers and checks.

Layout under --output-dir:
  parts/part-<shard>-of-<shards>.jsonl   one line per input line of the slice, ordered by input line,
                                         meta.tags.batch_index = the line's 0-based index in the whole input
  <--merged-name>                        every part, in input order (written by whichever shard completes
                                         the set; rewritten identically if two do)
A part that already holds its slice is not processed again (a rerun, or a retried pod after the write).
Prints one JSON line: {"batch": "shard", shard, shards, rows, done, failed, skipped, seconds, rows_per_s}.
Exit 0 when the shard's part is written (rows the model rejected are in it, with their error); 2 on a
missing input or bad arguments; 1 when the endpoint never became ready or the part is incomplete.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, Iterable

FORMAT = "ml-serving-charts.batch/1"
RETRYABLE_GRPC = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.RESOURCE_EXHAUSTED")


class ShardError(Exception):
    """What stops a shard, with the message the pod's log shows."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def slice_bounds(total: int, shard: int, shards: int) -> tuple[int, int]:
    """[start, end) of shard `shard` of `shards` over `total` lines: contiguous, sizes differ by at most one."""
    base, extra = divmod(total, shards)
    start = shard * base + min(shard, extra)
    return start, start + base + (1 if shard < extra else 0)


def part_name(shard: int, shards: int) -> str:
    return f"part-{shard:05d}-of-{shards:05d}.jsonl"


def read_lines(path: str, uri: str = "") -> list[str]:
    """The input's lines without their newline (a last line without one counts). `uri`: where the file came from,
    for the message (rclone copies a missing S3 object as nothing, so the first to notice is this program)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        where = f" ({uri})" if uri else ""
        raise ShardError(f"input file {path}{where} does not exist: check batch.input.uri (the path inside the claim "
                         f"or bucket) and that the file was uploaded", 2) from None
    except IsADirectoryError:
        raise ShardError(f"input {path} is a directory: batch.input.path names one file (JSON lines)", 2) from None


def tags_of(doc: Any) -> dict | None:
    """Where an output line keeps batch_index: meta.tags (seldon answers), meta (seldon error lines) or
    parameters (v2 answers and errors, MLServer's processor)."""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("parameters"), dict) and "meta" not in doc:
        return doc["parameters"]
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        return None
    return meta if "batch_index" in meta else meta.get("tags")


def index_of(line: str) -> int | None:
    """batch_index of an output line (the processors write it as an int or a float), else None."""
    try:
        tags = tags_of(json.loads(line))
    except ValueError:
        return None
    value = tags.get("batch_index") if isinstance(tags, dict) else None
    return int(value) if isinstance(value, (int, float)) else None


def failed(line: str) -> bool:
    """An error line: seldon's {"status": {"info": "FAILURE"}} or MLServer's {"error": ...}."""
    doc = json.loads(line)
    return "error" in doc or (isinstance(doc.get("status"), dict) and doc["status"].get("info") == "FAILURE")


def complete_part(path: str, start: int, end: int) -> list[str] | None:
    """The part's lines when it holds exactly the indexes start..end-1 in order, else None (absent or partial)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    return lines if [index_of(x) for x in lines] == list(range(start, end)) else None


def write_atomically(path: str, lines: Iterable[str]) -> None:
    """Write to a temporary file beside path, then rename: readers see the whole file or none."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def wait_ready(url: str, seconds: float) -> None:
    """GET url until it answers 200 (the executor's /ready), for at most `seconds`."""
    deadline, last = time.monotonic() + seconds, ""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
        except OSError as err:
            last = str(err)
        if time.monotonic() > deadline:
            raise ShardError(f"{url} did not answer 200 in {seconds:.0f}s (last: {last}): is the SeldonDeployment "
                             f"Available? (kubectl get sdep); raise batch.waitSeconds if it takes longer to start")
        time.sleep(2)


def tagging_client(base: type) -> type:
    """SeldonClient that keeps the request's tags (batch_index...) on every answer and turns a failed call into an
    exception carrying the server's message: retried (requests.RequestException, as the processor retries) when
    the server was unavailable, not retried (ValueError) when it rejected the row."""
    import requests

    class TaggingClient(base):  # type: ignore[misc, valid-type]
        def predict(self, *args: Any, **kwargs: Any) -> Any:
            result = super().predict(*args, **kwargs)
            if not result.success:
                message = f"{result.msg} {json.dumps(result.response) if result.response else ''}".strip()
                retryable = result.msg[:1] == "5" or any(code in result.msg for code in RETRYABLE_GRPC)
                raise (requests.exceptions.RequestException if retryable else ValueError)(message or "no answer")
            if isinstance(result.response, dict):
                tags = result.response.setdefault("meta", {}).setdefault("tags", {})
                for key, value in (kwargs.get("meta") or {}).items():
                    tags.setdefault(key, value)
            return result
    return TaggingClient


def run_processor(rows: list[str], args: argparse.Namespace, batch_size: int, workdir: str) -> list[str]:
    """The batch processor over `rows` (its input file holds exactly them); its output lines."""
    source, sink = os.path.join(workdir, "in.jsonl"), os.path.join(workdir, "out.jsonl")
    write_atomically(source, rows)
    if args.protocol == "v2":
        import asyncio

        from mlserver import batch_processing

        # MLServer's processor keeps batch_index in each answer's parameters and writes errors with their message
        asyncio.run(batch_processing.process_batch(
            model_name=args.model, url=args.endpoint, workers=args.workers, retries=args.retries,
            batch_size=batch_size, input_data_path=source, output_data_path=sink, binary_data=False, transport="rest",
            request_headers=[], timeout=60, batch_interval=0.0, batch_jitter=0.0, use_ssl=False, insecure=False,
            verbose=args.log_level in ("debug", "info"), extra_verbose=args.log_level == "debug"))
        with open(sink, encoding="utf-8") as f:
            return f.read().splitlines()
    from seldon_core import batch_processor
    from seldon_core.seldon_client import SeldonClient

    batch_processor.SeldonClient = tagging_client(SeldonClient)
    batch_processor.start_multithreaded_batch_worker(
        deployment_name=args.deployment, gateway_type="seldon", namespace=args.namespace, host=args.endpoint,
        transport=args.transport, data_type=args.data_type, payload_type=args.payload_type, workers=args.workers,
        retries=args.retries, batch_size=batch_size, input_data_path=source, output_data_path=sink, method="predict",
        log_level=args.log_level, benchmark=False, batch_id=args.batch_id, batch_interval=0.0,
        call_credentials_token="", use_ssl=False, ssl_verify=True)
    with open(sink, encoding="utf-8") as f:
        return f.read().splitlines()


def renumber(line: str, index: int, shard: int, batch_id: str) -> str:
    """The output line with batch_index made the line's index in the whole input, and the shard noted, where the
    processor keeps them (tags_of)."""
    doc = json.loads(line)
    tags = tags_of(doc)
    if tags is None:
        tags = doc.setdefault("meta", {}).setdefault("tags", {})
    tags["batch_index"] = index
    tags["batch_shard"] = shard
    tags.setdefault("batch_id", batch_id)   # MLServer's processor has none
    return json.dumps(doc, sort_keys=True)


def process(rows: list[str], offset: int, args: argparse.Namespace) -> list[str]:
    """One answer per row, ordered by input line. Rows without an answer after the processor's run (its mini-batch
    path writes one unnumbered error line when a batch cannot be assembled, e.g. a row of another width) are sent
    again one by one, so each gets its own answer or error."""
    by_index: dict[int, str] = {}
    pending = list(range(len(rows)))
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        for batch_size in dict.fromkeys((args.batch_size, 1)):   # the configured size, then single rows
            if not pending:
                break
            for line in run_processor([rows[i] for i in pending], args, batch_size, workdir):
                local = index_of(line)
                if local is not None and 0 <= local < len(pending):
                    by_index.setdefault(pending[local], renumber(line, offset + pending[local], args.shard, args.batch_id))
            pending = [i for i in range(len(rows)) if i not in by_index]
    if pending:
        raise ShardError(f"shard {args.shard}: no answer for input lines {[offset + i for i in pending][:20]} "
                         f"(of {len(pending)}): see the batch processor's errors above")
    return [by_index[i] for i in range(len(rows))]


def merge(output_dir: str, shards: int, total: int, merged: str) -> bool:
    """When every part is complete, write the merged output (input order) and return True."""
    parts = []
    for shard in range(shards):
        start, end = slice_bounds(total, shard, shards)
        lines = complete_part(os.path.join(output_dir, "parts", part_name(shard, shards)), start, end)
        if lines is None:
            return False
        parts.append(lines)
    write_atomically(os.path.join(output_dir, merged), (line for lines in parts for line in lines))
    return True


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="shard.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="the input file: one request per line (JSON)")
    p.add_argument("--input-uri", default="", help="where the input came from (batch.input.uri), for messages")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--merged-name", default="", help="file name of the merged output ('' : parts only)")
    p.add_argument("--shard", type=int, default=int(os.environ.get("JOB_COMPLETION_INDEX", "0")))
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--endpoint", required=True, help="host:port of the executor (8000 REST, 5001 gRPC)")
    p.add_argument("--ready-url", default="", help="GET until 200 before sending ('' : do not wait)")
    p.add_argument("--wait-seconds", type=float, default=300)
    p.add_argument("--deployment", default="batch", help="the SeldonDeployment (the processor's request tags)")
    p.add_argument("--namespace", default="default")
    p.add_argument("--protocol", choices=["seldon", "v2"], default="seldon",
                   help="seldon: Seldon's batch processor; v2: MLServer's (REST only, needs the mlserver package)")
    p.add_argument("--model", default="", help="v2: the model name in /v2/models/<model>/infer")
    p.add_argument("--transport", choices=["rest", "grpc"], default="rest")
    p.add_argument("--data-type", choices=["data", "json", "str", "raw"], default="data")
    p.add_argument("--payload-type", choices=["ndarray", "tensor", "tftensor"], default="ndarray")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--batch-id", default=os.environ.get("BATCH_ID", ""))
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning")
    p.add_argument("--workdir", default=tempfile.gettempdir())
    args = p.parse_args(argv)
    if not 0 <= args.shard < args.shards:
        p.error(f"--shard {args.shard} is not in 0..{args.shards - 1}")
    if min(args.batch_size, args.workers, args.retries) < 1:
        p.error("--batch-size, --workers and --retries must be >= 1")
    if args.protocol == "v2" and (args.transport != "rest" or not args.model):
        p.error("--protocol v2 sends over REST only (MLServer's processor) and needs --model")
    if args.batch_size > 1 and args.data_type not in ("data", "raw"):
        p.error(f"--batch-size {args.batch_size} needs --data-type data or raw (the processor's rule)")
    args.batch_id = args.batch_id or f"batch-{int(time.time())}"
    return args


def main(argv: list[str]) -> int:
    started = time.monotonic()
    try:
        args = parse(argv)
        lines = read_lines(args.input, args.input_uri)
        start, end = slice_bounds(len(lines), args.shard, args.shards)
        parts_dir = os.path.join(args.output_dir, "parts")
        os.makedirs(parts_dir, exist_ok=True)
        part = os.path.join(parts_dir, part_name(args.shard, args.shards))
        answers = complete_part(part, start, end)
        skipped = answers is not None
        if answers is None:
            if args.ready_url:
                wait_ready(args.ready_url, args.wait_seconds)
            answers = process(lines[start:end], start, args)
            write_atomically(part, answers)
        bad = sum(1 for line in answers if failed(line))
        merged = bool(args.merged_name) and merge(args.output_dir, args.shards, len(lines), args.merged_name)
        seconds = time.monotonic() - started
        print(json.dumps({"batch": "shard", "format": FORMAT, "shard": args.shard, "shards": args.shards,
                          "first": start, "rows": end - start, "done": end - start - bad, "failed": bad,
                          "skipped": skipped, "merged": merged, "total_rows": len(lines),
                          "seconds": round(seconds, 3),
                          "rows_per_s": round((end - start) / seconds, 1) if seconds and not skipped else None,
                          "part": part}), flush=True)
        return 0
    except ShardError as err:
        print(json.dumps({"batch": "shard", "format": FORMAT, "error": str(err)}), flush=True)
        print(f"ERROR: {err}", file=sys.stderr, flush=True)
        return err.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
