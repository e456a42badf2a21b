"""msc.serving_bench's arithmetic without a cluster: the settings from the environment, the median and spread of a
cell, the executor overhead, the ramp's highest good step, the document's sections and the plot. The results are
built from request rows as the loadgen image would print them (loadgen_run.summary); the kind tier runs the real
thing (tests/cluster_kind/test_kind_serving_bench.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from msc import loadgen, loadgen_run, serving_bench as sb
from harness.serving_plot import plot

pytestmark = pytest.mark.lint


def result(spec: loadgen.LoadSpec, latencies: list[float], failed: int = 0) -> loadgen.LoadResult:
    """The last `failed` requests fail (after any warm-up)."""
    bad = len(latencies) - failed
    rows = [[i / spec.rate, ms, "0" if i >= bad else "200", "timeout" if i >= bad else ""]
            for i, ms in enumerate(latencies)]
    return loadgen._result({"protocol": spec.protocol, "target": spec.target, "rate": spec.rate, "planned": len(rows),
                            **loadgen_run.summary(rows, 1_000_000.0), "requests": rows})


def test_settings_come_from_the_environment_and_bad_ones_are_refused() -> None:
    assert sb.settings_from_env({}) == sb.SHORT
    full = sb.settings_from_env({"MSC_SERVING_BENCH": "full"})
    assert full == sb.FULL and set(full.variants) == set(sb.VARIANTS) and full.repeats >= 3
    custom = sb.settings_from_env({"MSC_SERVING_BENCH": "full", "MSC_SERVING_VARIANTS": "bare-v2,executor-v2",
                                   "MSC_SERVING_SECONDS": "2", "MSC_SERVING_RAMP": "10,20"})
    assert (custom.name, custom.variants, custom.seconds, custom.ramp) == \
        ("full+custom", ("bare-v2", "executor-v2"), 2.0, (10, 20))
    with pytest.raises(ValueError, match="unknown variants \\['nope'\\]"):
        sb.settings_from_env({"MSC_SERVING_VARIANTS": "nope"})
    with pytest.raises(ValueError, match="MSC_SERVING_BENCH='long': full or short"):
        sb.settings_from_env({"MSC_SERVING_BENCH": "long"})
    with pytest.raises(ValueError, match="increasing"):
        sb.settings_from_env({"MSC_SERVING_RAMP": "50,20"})


def test_each_variant_is_called_on_its_own_ports_and_protocol() -> None:
    bare, graph, v2 = sb.VARIANTS["bare-seldon"], sb.VARIANTS["executor-seldon"], sb.VARIANTS["bare-v2"]
    assert bare.spec("rest", "iris.ns", 1, 10, 1).target == "http://iris.ns:9000/api/v1.0/predictions"
    assert graph.spec("grpc", "g.ns", 32, 10, 1).target == "g.ns:5001"
    assert len(graph.spec("grpc", "g.ns", 32, 10, 1).body["data"]["ndarray"]) == 32
    assert v2.spec("rest", "m.ns", 1, 10, 1).target == "http://m.ns:8080/v2/models/classifier/infer"
    spec = v2.spec("grpc", "m.ns", 1, 400, 1)
    assert (spec.target, spec.proto, spec.connections, spec.concurrency) == ("m.ns:8081", "v2", 4, 100)


def run_fake(settings: sb.Settings, graph_extra: float, bad_rate: int) -> tuple[list[sb.Cell], list[sb.Ramp]]:
    """Each run answers its first (warm-up) second in 50 ms, then in 2/3/4 ms for repeats 1/2/3 (bare), graph_extra
    ms more through a graph; ramp steps lose a tenth of their requests from bad_rate on."""
    def send(spec: loadgen.LoadSpec, label: str) -> loadgen.LoadResult:
        repeat = int(label.split(" #")[1]) if " #" in label else 1
        base = 1.0 + repeat + (graph_extra if ":8000" in spec.target or ":5001" in spec.target else 0)
        failed = spec.requests // 10 if spec.rate >= bad_rate else 0
        warm = int(spec.rate * settings.warmup_seconds) if " #" in label else 0
        return result(spec, [50.0] * warm + [base] * (spec.requests - warm), failed)

    hosts = {(v, t): f"{v}.ns" for v in settings.variants for t in settings.transports}
    return sb.measure(settings, hosts, send, log=lambda line: None)


def test_overhead_ramps_and_the_report(tmp_path: Path) -> None:
    settings = sb.settings_from_env({"MSC_SERVING_REPEATS": "3", "MSC_SERVING_RAMP": "10,20,40"})
    cells, ramps = run_fake(settings, graph_extra=5.0, bad_rate=40)
    assert len(cells) == settings.cells() and all(len(c.runs) == len(c.raw) == 3 for c in cells)
    cell = cells[0]
    assert (cell.median("p50"), cell.spread("p99")) == (3.0, (2.0, 4.0))   # the warm-up's 50 ms are not kept
    assert cell.raw[0].latency_ms.max == 50.0 and cell.raw[0].sent == 15 and cell.runs[0].sent == 10
    report = sb.Report(settings, cells, ramps, {"cpu": "test"}, {"x": "1"}, "scripts/bench serving", 60.0, 0.0,
                       {v: ["worker"] for v in settings.variants})
    overheads = report.overheads()
    assert len(overheads) == 2 * 2 * 2 and {o.median_ms for o in overheads} == {5.0}
    assert {(o.low_ms, o.high_ms) for o in overheads} == {(5.0, 5.0)}   # round i minus round i
    assert [s.rate for s in ramps[0].steps] == [10, 20, 40] and ramps[0].best.rate == 20 and not ramps[0].capped
    assert report.grpc_rest_ratios() == {"bare-seldon": pytest.approx(1.0, rel=0.1),
                                         "executor-seldon": pytest.approx(1.0, rel=0.1)}
    assert report.losses() == []
    md, png = report.write(tmp_path, plot)
    text = md.read_text()
    assert sb.markdown_sections(text) == sb.SECTIONS
    assert "| executor-seldon - bare-seldon | rest | 1 | p50 | +5.0 | +5.0 .. +5.0 |" in text
    assert "40/s: p99" in text and "10.0% errors (4 x timeout)" in text
    assert png.read_bytes()[:4] == b"\x89PNG" and "](serving-latency.png)" in text


def test_a_cell_that_loses_requests_is_listed_with_its_errors() -> None:
    settings = sb.settings_from_env({"MSC_SERVING_VARIANTS": "bare-seldon", "MSC_SERVING_RAMP": "10"})
    cells, ramps = run_fake(settings, graph_extra=0.0, bad_rate=5)    # every run loses a tenth
    report = sb.Report(settings, cells, ramps, {}, {}, "x", 1.0, 0.0)
    assert report.losses()[0] == "bare-seldon rest batch 1: 3 of 30 failed (3 x timeout)"
    assert ramps[0].best is None and "< 10" in report.ramp_table()[2]
