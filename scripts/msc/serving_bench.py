"""The serving benchmark (issue 19; `scripts/bench serving`, tests/cluster_kind/test_kind_serving_bench.py): what a
Seldon graph costs over the bare model, REST and gRPC, seldon and v2 protocols, measured side by side in ONE run on
the same kind worker so that the ratios hold on a noisy machine.

This module is the plan and the arithmetic, not the cluster: VARIANTS (what is served), Settings (how long, how
often, which rates: FULL or SHORT, from the environment), `measure()` runs the cells through a function that sends
one load (msc.loadgen in a runner pod, in the test), and Report turns the results into the tables, the executor
overhead, the ramps' highest good rate and docs/benchmarks/serving.md (its plot: harness.serving_plot, matplotlib).

Each fixed-rate cell (variant x transport x batch rows) runs `repeats` times, round robin over the cells, each run's
first warmup_seconds dropped; the median of each percentile over the repeats is kept and the repeats' range is its
spread. Each ramp (variant x
transport, 1 row a request) steps up the open-loop rate until p99 reaches RAMP_P99_MS or errors RAMP_ERRORS; the
highest step under both is the variant's rate. Nothing here asserts on time."""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from . import loadgen
from .loadgen import LoadResult, LoadSpec

Obj = dict[str, Any]
TRANSPORTS = ("rest", "grpc")
RAMP_P99_MS = 100.0       # a ramp step is good while its p99 stays under this ...
RAMP_ERRORS = 0.01        # ... and under this fraction of its requests fail
# the document's sections, in order (Report.markdown)
SECTIONS = ["Summary", "What is compared", "How", "Fixed rate", "Executor overhead", "Ramps", "Lost requests",
            "Latency vs rate", "Machine", "Versions"]


@dataclass(frozen=True)
class Variant:
    """One way of serving the iris model. kind: bare (the model's own container and ports, no executor) or graph
    (a seldon-model release; the executor's 8000/5001, its transport to the nodes = the caller's)."""
    name: str
    protocol: str                 # seldon | v2
    kind: str                     # bare | graph
    what: str                     # one line for the table
    baseline: str = ""            # the bare variant whose latency this one's overhead is measured against
    replicas: int = 1

    def ports(self) -> dict[str, int]:
        if self.kind == "graph":
            return {"rest": 8000, "grpc": 5001}
        return {"rest": 9000, "grpc": 5000} if self.protocol == "seldon" else {"rest": 8080, "grpc": 8081}

    def spec(self, transport: str, host: str, batch: int, rate: int, seconds: float, timeout: float = 5.0) -> LoadSpec:
        """The load for `rate` requests/s of `batch` iris rows each, to this variant served at `host`."""
        target = f"{host}:{self.ports()[transport]}"
        # workers: enough for rate x 0.25 s in flight; 4 connections, so a Service's replicas all get some
        # (kube-proxy balances connections, and gRPC multiplexes everything over one)
        kw: Obj = {"rate": rate, "duration": seconds, "timeout": timeout}
        if transport == "grpc":
            kw |= {"concurrency": max(10, min(200, rate // 4)), "connections": 4}
        if self.protocol == "seldon":
            if transport == "rest":
                return loadgen.seldon_rest(f"http://{target}", batch=batch, **kw)
            return loadgen.seldon_grpc(target, batch=batch, **kw)
        if transport == "rest":
            return loadgen.v2_rest(f"http://{target}", MODEL_NAME, batch=batch, **kw)
        return loadgen.v2_grpc(target, MODEL_NAME, batch=batch, **kw)


MODEL_NAME = "classifier"     # the v2 model's name (mlserver-iris's model-settings.json, the graph node's name)
VARIANTS = {v.name: v for v in (
    Variant("bare-seldon", "seldon", "bare", "iris-model container alone (seldon python wrapper)"),
    Variant("executor-seldon", "seldon", "graph", "one-node SeldonDeployment: executor -> iris-model",
            baseline="bare-seldon"),
    Variant("transformer", "seldon", "graph", "TRANSFORMER -> MODEL (iris-transformer, iris-model)",
            baseline="bare-seldon"),
    Variant("combiner", "seldon", "graph", "COMBINER over two iris-models", baseline="bare-seldon"),
    Variant("executor-seldon-x2", "seldon", "graph", "one-node SeldonDeployment, 2 replicas",
            baseline="bare-seldon", replicas=2),
    Variant("bare-v2", "v2", "bare", "mlserver-iris container alone (MLServer 1.7.1)"),
    Variant("executor-v2", "v2", "graph", "one-node SeldonDeployment, protocol v2: executor -> MLServer",
            baseline="bare-v2"),
)}
# the pairs whose difference is "the executor's overhead"
OVERHEAD_PAIRS = (("executor-seldon", "bare-seldon"), ("executor-v2", "bare-v2"))


@dataclass(frozen=True)
class Settings:
    name: str
    variants: tuple[str, ...]
    rate: int                     # requests/s of the fixed-rate cells
    seconds: float                # each fixed-rate repeat
    warmup_seconds: float         # the start of each fixed-rate run, not kept
    repeats: int
    batches: tuple[int, ...]
    ramp: tuple[int, ...]         # the ramp's rates, requests/s, in order
    ramp_seconds: float
    transports: tuple[str, ...] = TRANSPORTS

    def __post_init__(self) -> None:
        unknown = [v for v in self.variants if v not in VARIANTS]
        problems = [f"unknown variants {unknown}: choose from {sorted(VARIANTS)}"] if unknown else []
        if self.repeats < 1 or self.seconds <= 0 or self.ramp_seconds <= 0 or self.rate < 1:
            problems.append(f"repeats {self.repeats}, seconds {self.seconds}, ramp_seconds {self.ramp_seconds} and "
                            f"rate {self.rate} must be >= 1 / > 0")
        if list(self.ramp) != sorted(set(self.ramp)) or not self.ramp:
            problems.append(f"ramp {self.ramp} must be increasing rates")
        bad = [t for t in self.transports if t not in TRANSPORTS]
        if bad:
            problems.append(f"transports {bad}: choose from {TRANSPORTS}")
        if problems:
            raise ValueError("serving benchmark settings: " + "; ".join(problems))

    def cells(self) -> int:
        return len(self.variants) * len(self.transports) * len(self.batches)

    def estimate_s(self, overhead_s: float = 1.5) -> float:
        """The sending time plus a per-run overhead (kubectl exec, tool start): the ramps at their longest."""
        fixed = self.cells() * self.repeats * (self.warmup_seconds + self.seconds + overhead_s)
        # every step once, the last one (bad) three times
        ramps = len(self.variants) * len(self.transports) * (len(self.ramp) + 2) * (self.ramp_seconds + overhead_s)
        return fixed + ramps


# ~20 minutes on 2 cores (plus ~2 to deploy the variants): 7 variants x 2 transports x 2 batches at 20/s, 3 rounds
# of 6 s runs (1 s warm-up, then 100 requests kept: p99 is the second slowest), then 14 ramps of 4 s steps that stop
# at the first bad step
FULL = Settings("full", tuple(VARIANTS), rate=20, seconds=5, warmup_seconds=1, repeats=3, batches=(1, 32),
                ramp=(25, 50, 100, 200, 300, 400, 600, 800), ramp_seconds=4)
# the kind tier's check that the benchmark runs end to end: two variants, a couple of seconds a cell
SHORT = Settings("short", ("bare-seldon", "executor-seldon"), rate=10, seconds=1, warmup_seconds=0.5, repeats=3,
                 batches=(1, 32), ramp=(20, 50), ramp_seconds=1)
ENV_HELP = ("MSC_SERVING_BENCH=full|short (default short), MSC_SERVING_VARIANTS=a,b (of the VARIANTS), "
            "MSC_SERVING_SECONDS, MSC_SERVING_REPEATS, MSC_SERVING_RAMP=25,50,100")


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    base = {"full": FULL, "short": SHORT}.get(env.get("MSC_SERVING_BENCH", "short"))
    if base is None:
        raise ValueError(f"MSC_SERVING_BENCH={env['MSC_SERVING_BENCH']!r}: full or short ({ENV_HELP})")
    changes: Obj = {}
    try:
        if env.get("MSC_SERVING_VARIANTS"):
            changes["variants"] = tuple(v.strip() for v in env["MSC_SERVING_VARIANTS"].split(",") if v.strip())
        if env.get("MSC_SERVING_SECONDS"):
            changes["seconds"] = changes["ramp_seconds"] = float(env["MSC_SERVING_SECONDS"])
        if env.get("MSC_SERVING_REPEATS"):
            changes["repeats"] = int(env["MSC_SERVING_REPEATS"])
        if env.get("MSC_SERVING_RAMP"):
            changes["ramp"] = tuple(int(r) for r in env["MSC_SERVING_RAMP"].split(","))
    except ValueError as err:
        raise ValueError(f"serving benchmark environment: {err} ({ENV_HELP})") from err
    return replace(base, **changes, name=base.name + ("+custom" if changes else ""))


# ------------------------------------------------------------------ measuring

@dataclass
class Cell:
    variant: str
    transport: str
    batch: int
    rate: int
    runs: list[LoadResult] = field(default_factory=list)     # the kept part of each repeat (no warm-up)
    raw: list[LoadResult] = field(default_factory=list)      # each repeat whole, warm-up included

    def median(self, stat: str) -> float:
        return statistics.median(getattr(r.latency_ms, stat) for r in self.runs)

    def spread(self, stat: str) -> tuple[float, float]:
        values = [getattr(r.latency_ms, stat) for r in self.runs]
        return min(values), max(values)

    @property
    def sent(self) -> int:
        return sum(r.sent for r in self.runs)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.runs)

    def errors(self) -> dict[str, int]:
        """error message (or the failed code, when the tool gave none) -> requests, over the runs."""
        out: dict[str, int] = {}
        for run in self.runs:
            found = run.errors or {f"code {c}": n for c, n in run.codes.items() if not loadgen.loadgen_run.succeeded(c)}
            for key, count in found.items():
                out[key] = out.get(key, 0) + count
        return out


@dataclass
class Step:
    """One rate of a ramp: one try, or three when the first was bad (a hiccup of a shared machine must not end a
    ramp); judged by the median try."""
    rate: int
    tries: list[LoadResult]

    @staticmethod
    def errors_of(result: LoadResult) -> float:
        return result.failed / result.sent if result.sent else 1.0

    @property
    def result(self) -> LoadResult:
        """The median try by p99 (the one shown)."""
        return sorted(self.tries, key=lambda r: r.latency_ms.p99)[(len(self.tries) - 1) // 2]

    @property
    def error_rate(self) -> float:
        return statistics.median(self.errors_of(r) for r in self.tries)

    @property
    def good(self) -> bool:
        return self.result.sent > 0 and self.result.latency_ms.p99 < RAMP_P99_MS and self.error_rate < RAMP_ERRORS


@dataclass
class Ramp:
    variant: str
    transport: str
    steps: list[Step] = field(default_factory=list)

    @property
    def best(self) -> Step | None:
        """The highest step under RAMP_P99_MS and RAMP_ERRORS (the steps stop at the first bad one)."""
        good = [s for s in self.steps if s.good]
        return good[-1] if good else None

    @property
    def capped(self) -> bool:
        """True when even the last rate of the ramp was good: the variant can do more than the ramp asked."""
        return bool(self.steps) and self.steps[-1].good


Send = Callable[[LoadSpec, str], LoadResult]     # (spec, label) -> result


def measure(settings: Settings, hosts: dict[tuple[str, str], str], send: Send,
            log: Callable[[str], None] = print) -> tuple[list[Cell], list[Ramp]]:
    """Every fixed-rate cell, then every ramp. hosts: (variant, transport) -> the host serving it."""
    cells = [Cell(v, t, b, settings.rate) for v in settings.variants for t in settings.transports
             for b in settings.batches]
    ramps: list[Ramp] = []
    total = settings.warmup_seconds + settings.seconds
    # round robin: repeat i of every cell, then repeat i + 1, so a busy spell of the machine falls on all of them
    for i in range(settings.repeats):
        for cell in cells:
            spec = VARIANTS[cell.variant].spec(cell.transport, hosts[(cell.variant, cell.transport)], cell.batch,
                                               settings.rate, total)
            raw = send(spec, f"{cell.variant} {cell.transport} batch {cell.batch} #{i + 1}")
            cell.raw.append(raw)
            # the first warmup_seconds of the run warm the path up (connections, caches) and are not kept
            cell.runs.append(raw.window(raw.started + settings.warmup_seconds, raw.started + total + 3600))
        log(f"[serving] round {i + 1} of {settings.repeats}: {len(cells)} cells")
    for cell in cells:
        log(f"[serving] {cell.variant:<19} {cell.transport:<4} batch {cell.batch:>2} at {settings.rate}/s: p50 "
            f"{cell.median('p50'):.1f} p99 {cell.median('p99'):.1f} ms, failed {cell.failed}/{cell.sent}")
    for name in settings.variants:
        variant = VARIANTS[name]
        for transport in settings.transports:
            ramp = Ramp(name, transport)
            for rate in settings.ramp:
                # a short timeout: a saturated server's backlog is not waited out for seconds
                spec = variant.spec(transport, hosts[(name, transport)], 1, rate, settings.ramp_seconds, timeout=2.0)
                step = Step(rate, [send(spec, f"{name} {transport} ramp {rate}/s")])
                if not step.good:   # confirmed or not by two more tries: the median of three decides
                    step.tries += [send(spec, f"{name} {transport} ramp {rate}/s again") for _ in range(2)]
                ramp.steps.append(step)
                if not step.good:
                    break
            best = ramp.best
            log(f"[serving] {name:<19} {transport:<4} ramp: " + ", ".join(
                f"{s.rate}/s p99 {s.result.latency_ms.p99:.0f} ms err {100 * s.error_rate:.1f}%"
                + (f" ({len(s.tries)} tries)" if len(s.tries) > 1 else "") for s in ramp.steps)
                + f" -> {best.rate if best else 'none'}/s")
            ramps.append(ramp)
    return cells, ramps


# ------------------------------------------------------------------ the report

@dataclass
class Overhead:
    graph: str
    bare: str
    transport: str
    batch: int
    stat: str
    median_ms: float
    low_ms: float
    high_ms: float


@dataclass
class Report:
    settings: Settings
    cells: list[Cell]
    ramps: list[Ramp]
    machine: Obj
    versions: Obj
    command: str
    seconds: float                                                   # of measuring
    started: float                                                   # unix time of the run's start
    placement: dict[str, list[str]] = field(default_factory=dict)   # variant -> nodes of its pods

    def cell(self, variant: str, transport: str, batch: int) -> Cell | None:
        return next((c for c in self.cells if (c.variant, c.transport, c.batch) == (variant, transport, batch)), None)

    def ramp(self, variant: str, transport: str) -> Ramp | None:
        return next((r for r in self.ramps if (r.variant, r.transport) == (variant, transport)), None)

    def overheads(self) -> list[Overhead]:
        """Graph minus bare latency (their medians), per pair, transport, batch and stat; the spread is the range
        of the per-round differences (repeat i of the graph minus repeat i of the bare, measured minutes apart at
        most)."""
        out = []
        for graph, bare in OVERHEAD_PAIRS:
            for transport in self.settings.transports:
                for batch in self.settings.batches:
                    g, b = self.cell(graph, transport, batch), self.cell(bare, transport, batch)
                    if not (g and b):
                        continue
                    for stat in ("p50", "p99"):
                        # repeat i of both ran back to back (measure's round robin): paired differences
                        diffs = [getattr(x.latency_ms, stat) - getattr(y.latency_ms, stat) for x, y in zip(g.runs, b.runs)]
                        out.append(Overhead(graph, bare, transport, batch, stat, g.median(stat) - b.median(stat),
                                            min(diffs), max(diffs)))
        return out

    def grpc_rest_ratios(self) -> dict[str, float]:
        """variant -> highest good gRPC rate / highest good REST rate (ramps at 1 row a request)."""
        out = {}
        for name in self.settings.variants:
            rest, grpc = self.ramp(name, "rest"), self.ramp(name, "grpc")
            if rest and grpc and rest.best and grpc.best:
                out[name] = grpc.best.result.throughput_rps / rest.best.result.throughput_rps
        return out

    def losses(self) -> list[str]:
        """Every fixed-rate cell that lost requests, with what the errors said."""
        lines = []
        for c in self.cells:
            if c.failed:
                errs = "; ".join(f"{n} x {e[:160]}" for e, n in sorted(c.errors().items(), key=lambda e: -e[1])[:3])
                lines.append(f"{c.variant} {c.transport} batch {c.batch}: {c.failed} of {c.sent} failed ({errs})")
        return lines

    # -- text

    def fixed_table(self) -> list[str]:
        head = ("| variant | transport | rows | p50 ms | p90 ms | p99 ms | p99 spread ms | sent | failed |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|")
        rows = [f"| {c.variant} | {c.transport} | {c.batch} | {c.median('p50'):.1f} | {c.median('p90'):.1f} | "
                f"{c.median('p99'):.1f} | {c.spread('p99')[0]:.1f}-{c.spread('p99')[1]:.1f} | {c.sent} | {c.failed} |"
                for c in self.cells]
        return [*head, *rows]

    def overhead_table(self) -> list[str]:
        head = ("| graph - bare | transport | rows | at | overhead ms (median) | spread ms |",
                "|---|---|---:|---|---:|---:|")
        rows = [f"| {o.graph} - {o.bare} | {o.transport} | {o.batch} | {o.stat} | {o.median_ms:+.1f} | "
                f"{o.low_ms:+.1f} .. {o.high_ms:+.1f} |" for o in self.overheads()]
        return [*head, *rows]

    def ramp_table(self) -> list[str]:
        head = ("| variant | transport | highest good rate /s | ok/s there | p99 ms there | first bad step |",
                "|---|---|---:|---:|---:|---|")
        rows = []
        for r in self.ramps:
            best = r.best
            bad = next((s for s in r.steps if not s.good), None)
            top = max(bad.result.errors.items(), key=lambda e: e[1], default=None) if bad else None
            why = (f"{bad.rate}/s: p99 {bad.result.latency_ms.p99:.0f} ms, {100 * bad.error_rate:.1f}% errors"
                   + (f" ({top[1]} x {top[0][:100]})" if top else "")
                   if bad else f"none up to {r.steps[-1].rate}/s (the ramp's top)")
            rows.append(f"| {r.variant} | {r.transport} | {best.rate if best else '< ' + str(r.steps[0].rate)} | "
                        f"{best.result.throughput_rps if best else 0:.0f} | "
                        f"{best.result.latency_ms.p99 if best else 0:.1f} | {why} |")
        return [*head, *rows]

    def ratio_lines(self) -> list[str]:
        lines = []
        for name, ratio in self.grpc_rest_ratios().items():
            capped = [t for t in self.settings.transports if (r := self.ramp(name, t)) and r.capped]
            note = ("" if not capped else " (both ramps reached the top rate: no ratio)" if len(capped) == 2 else
                    f" (the {capped[0].upper()} ramp reached the top rate: its side is a lower bound)")
            lines.append(f"- {name}: gRPC/REST = {ratio:.2f}{note}")
        return lines

    def scaling_lines(self) -> list[str]:
        """Highest good rate with 2 replicas vs 1, per transport (both on the one worker)."""
        lines = []
        for transport in self.settings.transports:
            one, two = self.ramp("executor-seldon", transport), self.ramp("executor-seldon-x2", transport)
            if one and two and one.best and two.best:
                lines.append(f"- {transport.upper()}: 1 replica {one.best.rate}/s, 2 replicas {two.best.rate}/s "
                             f"(x{two.best.rate / one.best.rate:.2f})")
        return lines

    def summary_lines(self) -> list[str]:
        """The headline figures: executor overhead at 1 row (p50, p99) per pair and transport, the gRPC-to-REST
        ratios, replica scaling."""
        lines = []
        for o in self.overheads():
            if o.batch == min(self.settings.batches) and o.stat == "p50":
                p99 = next(x for x in self.overheads() if (x.graph, x.transport, x.batch, x.stat) ==
                           (o.graph, o.transport, o.batch, "p99"))
                lines.append(f"- executor overhead, {o.graph} - {o.bare}, {o.transport.upper()}, {o.batch} row: "
                             f"p50 {o.median_ms:+.1f} ms ({o.low_ms:+.1f} .. {o.high_ms:+.1f}), "
                             f"p99 {p99.median_ms:+.1f} ms ({p99.low_ms:+.1f} .. {p99.high_ms:+.1f})")
        lines += [f"- gRPC-to-REST throughput, {line[2:]}" for line in self.ratio_lines()]
        lines += [f"- replicas, {line[2:]}" for line in self.scaling_lines()]
        lost = [c for c in self.cells if c.failed]
        lines.append(f"- lost requests at the fixed rate: {sum(c.failed for c in lost)} of "
                     f"{sum(c.sent for c in self.cells)}" + (f", in {', '.join(sorted({c.variant for c in lost}))}"
                                                             if lost else ""))
        return lines

    def text(self) -> str:
        """What `scripts/bench serving` prints."""
        return "\n".join([f"serving benchmark ({self.settings.name}), {self.seconds:.0f} s", "", "fixed rate "
                          f"{self.settings.rate}/s, median of {self.settings.repeats}:", *self.fixed_table(), "",
                          "executor overhead:", *self.overhead_table(), "", "ramps (1 row a request):",
                          *self.ramp_table(), "", "gRPC-to-REST throughput:", *self.ratio_lines(), "",
                          "replicas:", *(self.scaling_lines() or ["not measured"]), "",
                          "lost requests:", *(self.losses() or ["none"])])

    def markdown(self, plot_name: str) -> str:
        s = self.settings
        variants = [f"| {v} | {VARIANTS[v].what} | {', '.join(sorted(set(self.placement.get(v, []))))} |"
                    for v in s.variants]
        machine = [f"- {k}: {v}" for k, v in self.machine.items()]
        versions = [f"- {k}: {v}" for k, v in self.versions.items()]
        return "\n".join([
            "# Serving benchmark: what a Seldon graph costs over the bare model",
            "",
            "Generated by `" + self.command + "` (tests/cluster_kind/test_kind_serving_bench.py, "
            "scripts/msc/serving_bench.py); every figure below comes from that run. Do not edit by hand: run it "
            "again.",
            "",
            f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(self.started))}, "
            f"settings `{s.name}`, {self.seconds / 60:.1f} min of load ({len(self.cells)} fixed-rate cells, "
            f"{len(self.ramps)} ramps).",
            "",
            "**Read these as upper bounds.** The machine has 2 cores, shared by the kind cluster's control plane, "
            "every variant's pods, the load generator and, on a shared development machine, other sessions' "
            "builds and clusters (the load average below says how busy it was). The variants were measured one "
            "after another in the same run, on the same worker, so their *differences and ratios* are what holds.",
            "",
            "## Summary", "", *self.summary_lines(), "",
            "## What is compared",
            "",
            "All on the same iris model, every pod on the same kind worker (nodes below); the load generator "
            "(vegeta for REST, ghz for gRPC, the localhost/ml-serving-charts/loadgen image) runs in a pod on the other worker. "
            "A graph's transport to its nodes is the caller's (REST cells call a `transport: rest` release, gRPC cells "
            "a `transport: grpc` one).",
            "",
            "| variant | what | node |", "|---|---|---|", *variants,
            "",
            "## How",
            "",
            f"- Fixed rate: {s.rate} requests/s open loop, {len(s.batches)} request sizes ({', '.join(map(str, s.batches))} "
            f"iris rows), {s.repeats} runs of each cell, round robin (run 1 of every cell, then run 2, ...: a busy "
            f"spell falls on all variants); each run lasts {s.warmup_seconds + s.seconds:g} s and its first "
            f"{s.warmup_seconds:g} s are a warm-up, not kept; the median of each percentile over the runs is kept, "
            "the runs' range is the spread.",
            f"- Ramps: 1 row a request, open-loop steps of {s.ramp_seconds:g} s at {', '.join(map(str, s.ramp))} "
            f"requests/s (2 s request timeout), stopping at the first step whose p99 reaches {RAMP_P99_MS:g} ms or "
            f"whose errors reach {100 * RAMP_ERRORS:g}%; a step that fails is run twice more and judged by the median of "
            "the three (a busy machine's hiccup does not end a ramp); the highest good step is the variant's rate (the "
            "grid's resolution: the true limit lies between it and the next step).",
            "- Executor overhead = graph latency - bare latency (medians), per transport; spread = the range of the "
            "per-round differences (run i of the graph minus run i of the bare).",
            "- Latency is per request as the load generator sees it, failed requests included.",
            "",
            "## Fixed rate", "", f"{s.rate} requests/s, median of {s.repeats} runs:", "", *self.fixed_table(),
            "", "## Executor overhead", "", *self.overhead_table(),
            "", "## Ramps", "", f"The highest rate with p99 < {RAMP_P99_MS:g} ms and < {100 * RAMP_ERRORS:g}% errors:", "",
            *self.ramp_table(),
            "", "gRPC-to-REST throughput (ok/s at the highest good step):", "", *self.ratio_lines(),
            "", "1 replica vs 2 (highest good rate; both replicas share the worker's 2 cores with the executor and "
            "everything else):", "", *(self.scaling_lines() or ["- not measured in this run"]),
            "", "## Lost requests", "", *(f"- {line}" for line in self.losses() or ["none: every request of every "
                                                                              "fixed-rate cell succeeded"]),
            "", "## Latency vs rate", "", f"![p50 and p99 latency vs offered rate, per variant]({plot_name})", "",
            "Each line is one variant's ramp (1 row a request) with its fixed-rate point; the dashed line is the "
            f"{RAMP_P99_MS:g} ms p99 bound.",
            "", "## Machine", "", *machine, "", "## Versions", "", *versions, "",
        ])

    def plot_points(self, variant: str, transport: str) -> list[tuple[int, float, float]]:
        """(offered rate, p50, p99) of a variant: its 1-row fixed-rate cell and its ramp's steps, by rate."""
        cell, ramp = self.cell(variant, transport, 1), self.ramp(variant, transport)
        points = [(cell.rate, cell.median("p50"), cell.median("p99"))] if cell else []
        points += [(s.rate, s.result.latency_ms.p50, s.result.latency_ms.p99) for s in (ramp.steps if ramp else [])]
        return sorted(points)

    def write(self, folder: Path, plot: Callable[[Report, Path], None], name: str = "serving") -> tuple[Path, Path]:
        """folder/<name>.md and folder/<name>-latency.png, drawn by plot(report, path) (harness.serving_plot:
        matplotlib lives in the harness venv, this package is the standard library only)."""
        folder.mkdir(parents=True, exist_ok=True)
        png = folder / f"{name}-latency.png"
        plot(self, png)
        md = folder / f"{name}.md"
        md.write_text(self.markdown(png.name))
        return md, png


def machine_facts() -> Obj:
    """The host's CPU, cores, memory, kernel and load (what a reader needs to weigh the figures)."""
    facts: Obj = {"_time": time.time()}
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor() or "unknown")
    except OSError:
        model = platform.processor() or "unknown"
    facts["cpu"] = f"{model}, {os.cpu_count()} cores"
    try:
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
        facts["memory"] = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    facts["kernel"] = f"{platform.system()} {platform.release()}"
    facts["load average at the start (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return facts


def finish_machine(facts: Obj) -> Obj:
    return {**facts, "load average at the end (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg())}


def public(facts: Obj) -> Obj:
    return {k: v for k, v in facts.items() if not k.startswith("_")}


def markdown_sections(text: str) -> list[str]:
    """The `## ` headings of a report (the test checks the document's structure with it)."""
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def describe_settings(s: Settings) -> str:
    return (f"{s.name}: {len(s.variants)} variants ({', '.join(s.variants)}) x {'/'.join(s.transports)} x batch "
            f"{'/'.join(map(str, s.batches))} at {s.rate}/s, {s.repeats} x ({s.warmup_seconds:g} s warm-up + "
            f"{s.seconds:g} s); ramps {list(s.ramp)} x {s.ramp_seconds:g} s; about {s.estimate_s() / 60:.0f} min of load")
