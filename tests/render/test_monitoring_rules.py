"""ml-monitoring's PromQL, checked by the real promtool (3.14) for every scenario:

- `promtool check rules` on every rendered rule group (syntax, templates, duplicate rules);
- `promtool test rules` with unit tests generated from the scenario's values: for EVERY alerting rule, input
  series that make it fire (with its exact labels and rendered annotations) and series that keep it quiet;
  recording rules are checked against hand-computed values;
- every dashboard query (and variable query) parses, through a throw-away recording-rule file;
- every metric a rule or dashboard names is produced by something the suite knows (harness.metrics).

Tests are generated, not written as YAML, because thresholds, objectives and windows come from values:
custom-slo.yaml gets tests for its own windows and objectives."""
from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from harness import CHARTS, all_scenarios, find_all, merge_values, render, tool, tool_env
from harness.metrics import PromQLTokenError, metric_names, unknown_metrics

pytestmark = [pytest.mark.render,
              pytest.mark.skipif(not tool("promtool").exists(), reason="promtool missing: run scripts/bootstrap")]

CHART = "ml-monitoring"
DASHBOARDS = CHARTS / CHART / "dashboards"
SCENARIOS = {name: path for chart, name, path in all_scenarios() if chart == CHART}
Obj = dict[str, Any]

# ------------------------------------------------------------------ rendering and values


def scenario_values(scenario: str) -> Obj:
    defaults = yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())
    return merge_values(defaults, yaml.safe_load(SCENARIOS[scenario].read_text()))


def rule_groups(scenario: str) -> dict[str, Obj]:
    """Rule groups of a scenario keyed by the PrometheusRule component (seldon-recording, gpu, ...)."""
    groups: dict[str, Obj] = {}
    for rule in find_all(render(CHART, values_files=[SCENARIOS[scenario]]), "PrometheusRule"):
        (group,) = rule["spec"]["groups"]
        groups[rule["metadata"]["labels"]["app.kubernetes.io/component"]] = group
    return groups


def promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("promtool")), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=tool_env())


# ------------------------------------------------------------------ series helpers

def parse_matchers(matchers: str) -> dict[str, str]:
    """Label values that satisfy PromQL matchers such as `job="x", label_a!=""` (only = and != are
    supported: a generated test must not guess what a regex accepts)."""
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', matchers))):
        match = re.fullmatch(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"(.*)"', part)
        if not match:
            raise ValueError(f"cannot read matcher {part!r}")
        key, op, value = match.groups()
        if op == "=":
            labels[key] = value
        elif op == "!=":
            labels[key] = f"{value}x" if value else "iris"
        else:
            raise NotImplementedError(f"generated tests support = and != matchers, not {part!r}")
    return labels


def series(metric: str, labels: dict[str, str], values: str) -> Obj:
    body = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{metric}{{{body}}}", "values": values}


def counter(segments: list[tuple[float, int]]) -> str:
    """promtool values of a counter sampled every minute from 0: each segment adds `per_minute` for `minutes`."""
    parts, last = ["0"], 0.0
    for per_minute, minutes in segments:
        if minutes <= 0:
            continue
        parts.append(f"{_num(last + per_minute)}+{_num(per_minute)}x{minutes - 1}")
        last += per_minute * minutes
    return " ".join(parts)


def gauge(value: float, minutes: int) -> str:
    return f"{_num(value)}x{minutes}"


def _num(value: float) -> str:
    return f"{value:.10g}"


def minutes(duration: str) -> int:
    units = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440, "w": 10080}
    total = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w)", duration) if u != "ms")
    return math.ceil(total)


# ------------------------------------------------------------------ expected alerts

def humanize(value: float) -> str:
    """Prometheus' `humanize` for the values these tests produce (0 or 1 <= |v| < 1000)."""
    assert value == 0 or 1 <= abs(value) < 1000, f"test value {value} needs SI prefixes; pick another"
    return f"{value:.4g}"


def expand(template: str, labels: dict[str, str], value: float) -> str:
    """Render an annotation the way Prometheus does, for the template forms this chart uses."""
    def one(match: re.Match[str]) -> str:
        body = match.group(1).strip()
        if body.startswith("$labels."):
            return labels.get(body.removeprefix("$labels."), "")
        if body == "$value | humanize":
            return humanize(value)
        if body == "$value | humanizePercentage":
            return f"{value * 100:.4g}%"
        raise AssertionError(f"annotation template {{{{ {body} }}}} not understood by the test renderer")
    return re.sub(r"\{\{(.*?)\}\}", one, template)


def expected_alert(rule: Obj, labels: dict[str, str], value: float) -> Obj:
    return {"exp_labels": {**labels, **rule.get("labels", {})},
            "exp_annotations": {k: expand(v, labels, value) for k, v in rule.get("annotations", {}).items()}}


@dataclass
class UnitTests:
    """Generated promtool test groups for one rule group, and which alerting rules they fire / keep quiet."""
    tests: list[Obj] = field(default_factory=list)
    fired: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    quiet: set[str] = field(default_factory=set)

    def add(self, name: str, input_series: list[Obj], eval_minutes: int, alerts: dict[str, list[Obj]],
            promql: list[Obj] | None = None) -> None:
        promql = promql or []
        last = max([eval_minutes] + [p["eval_minutes"] for p in promql])
        for s in input_series:  # every series covers the whole test
            assert _length(s["values"]) > last, f"{name}: {s['series']} ends before {last}m"
        self.tests.append({
            "name": name, "interval": "1m", "input_series": input_series,
            "alert_rule_test": [{"eval_time": f"{eval_minutes}m", "alertname": a, "exp_alerts": exp}
                                for a, exp in alerts.items()],
            **({"promql_expr_test": [{"expr": p["expr"], "eval_time": f"{p['eval_minutes']}m",
                                      "exp_samples": p["exp_samples"]} for p in promql]} if promql else {}),
        })
        for alertname, exp in alerts.items():
            if exp:
                self.fired += [(alertname, e["exp_labels"]) for e in exp]
            else:
                self.quiet.add(alertname)


def _length(values: str) -> int:
    n = 0
    for part in values.split():
        match = re.fullmatch(r"[^x]+x(\d+)", part)
        n += int(match.group(1)) + 1 if match else 1
    return n


def alert_rules(group: Obj, name: str) -> list[Obj]:
    rules = [r for r in group["rules"] if r.get("alert") == name]
    assert rules, f"group {group['name']} has no alert {name}"
    return rules


# ------------------------------------------------------------------ SLO burn-rate alerts

NS, SDEP = "models", "iris"
Segment = tuple[float, float, int]  # good and bad requests per minute, for so many minutes
SeriesFactory = Callable[[list[Segment]], list[Obj]]


def burn_tests(values: Obj, group: Obj, slo: str) -> UnitTests:
    """Constant bad ratios just above each window's threshold fire exactly the windows whose threshold
    they pass; a ratio under every threshold, and a burst that is over (long windows still burning, short
    windows clean), stay quiet."""
    cfg = values["rules"]["slo"]
    budget = (100 - cfg[slo]["objective"]) / 100
    windows = cfg["windows"]
    alertname = {"availability": "SeldonAvailabilityBudgetBurn", "latency": "SeldonLatencyBudgetBurn"}[slo]
    sli = {"availability": "seldon_slo_availability_errors", "latency": "seldon_slo_latency_slow_requests"}[slo]
    rules = {(r["labels"]["long_window"], r["labels"]["short_window"]): r for r in alert_rules(group, alertname)}
    assert set(rules) == {(w["longWindow"], w["shortWindow"]) for w in windows}, "one alert per window pair"
    make_series = _slo_series(values, slo)
    out_labels = {"namespace": NS, "deployment_name": SDEP}
    end = max(minutes(w["for"]) for w in windows) + 15
    thresholds = sorted({w["burnRate"] * budget for w in windows})
    ut = UnitTests()

    for w in windows:
        low = w["burnRate"] * budget
        higher = [t for t in thresholds if t > low]
        ratio = float(f"{(math.sqrt(low * higher[0]) if higher else min(2 * low, (1 + low) / 2)):.3g}")
        assert low < ratio < (higher[0] if higher else 1), f"no room for a ratio above {low}"
        firing = [v for v in windows if v["burnRate"] * budget < ratio]
        exp = [expected_alert(rules[(v["longWindow"], v["shortWindow"])], out_labels, ratio) for v in firing]
        ut.add(f"{alertname} fires at {ratio:.4g} bad ({w['longWindow']}/{w['shortWindow']} at {w['burnRate']}x)",
               make_series([(1000 * (1 - ratio), 1000 * ratio, end + 5)]), end, {alertname: exp})

    below = float(f"{thresholds[0] / 2:.3g}")
    ut.add(f"{alertname} stays quiet at {below:.4g} bad, under every threshold",
           make_series([(1000 * (1 - below), 1000 * below, end + 5)]), end, {alertname: []})

    # An outage that ended longer ago than the longest short window, long enough that the longest long
    # window still burns at 1.5x its threshold (asserted below: the short window is what keeps it quiet).
    calm = max(minutes(w["shortWindow"]) for w in windows) + 30
    longest = max(windows, key=lambda w: minutes(w["longWindow"]))
    target = 1.5 * longest["burnRate"] * budget
    assert target < 0.9, f"{longest} cannot be shown burning: its threshold is near 100%"
    outage = max(10, math.ceil(target * (10 + calm) / (1 - target)))
    now = 10 + outage + calm
    assert minutes(longest["longWindow"]) >= now, "the longest long window must still see the outage"
    ut.add(f"{alertname} stays quiet once a burst is over (short windows clean)",
           make_series([(1000, 0, 10), (0, 1000, outage), (1000, 0, calm + 5)]), now, {alertname: []},
           promql=[{"expr": f"namespace_deployment_name:{sli}:ratio_rate{longest['longWindow']} "
                            f"> bool {longest['burnRate'] * budget}",
                    "eval_minutes": now,
                    "exp_samples": [{"labels": f'{{deployment_name="{SDEP}", namespace="{NS}"}}', "value": 1}]}])
    return ut


def _slo_series(values: Obj, slo: str) -> SeriesFactory:
    base = {"namespace": NS, "deployment_name": SDEP, "predictor_name": "default", "predictor_version": "v1",
            "service": "predictions", "method": "POST", "code": "200", "pod": "iris-default-0-classifier-abc",
            **parse_matchers(values["rules"]["selectors"]["seldon"])}
    metric = "seldon_api_executor_server_requests_seconds"
    if slo == "availability":
        def availability(segments: list[Segment]) -> list[Obj]:
            return [series(f"{metric}_count", base, counter([(g, m) for g, _, m in segments])),
                    series(f"{metric}_count", {**base, "code": "500"}, counter([(b, m) for _, b, m in segments]))]
        return availability
    threshold = values["rules"]["slo"]["latency"]["thresholdSeconds"]
    le = str(float(threshold))  # Prometheus 3 stores le in float notation: 1 -> "1.0", 0.5 -> "0.5"

    def latency(segments: list[Segment]) -> list[Obj]:
        return [series(f"{metric}_bucket", {**base, "le": le}, counter([(g, m) for g, _, m in segments])),
                series(f"{metric}_count", base, counter([(g + b, m) for g, b, m in segments]))]
    return latency


# ------------------------------------------------------------------ GPU alerts

def gpu_tests(values: Obj, group: Obj) -> UnitTests:
    cfg = values["rules"]["gpu"]
    extra = parse_matchers(values["rules"]["selectors"]["dcgm"])
    gpu = {"Hostname": "gpu-node-1", "gpu": "0", "UUID": "GPU-5fd4b2a0", "modelName": "NVIDIA L4"}
    exporter = {**gpu, "device": "nvidia0", "namespace": NS, "pod": "llm-default-0-server-abc", "container": "server",
                "instance": "10.0.0.5:9400", "job": "dcgm-exporter", **extra}
    idle = {**exporter, "gpu": "1", "UUID": "GPU-77aa01c3", "device": "nvidia1", "pod": "", "namespace": "", "container": ""}
    idle = {k: v for k, v in idle.items() if v}
    ut = UnitTests()

    sat = cfg["saturation"]
    end = minutes(sat["window"]) + minutes(sat["for"]) + 5
    busy = min(100.0, sat["threshold"] + 5)
    assert busy > sat["threshold"], "a utilisation threshold of 100% can never be passed"
    (rule,) = alert_rules(group, "GPUSaturated")
    ut.add("GPUSaturated fires for the busy GPU only",
           [series("DCGM_FI_DEV_GPU_UTIL", exporter, gauge(busy, end + 5)),
            series("DCGM_FI_DEV_GPU_UTIL", idle, gauge(sat["threshold"] / 2, end + 5))],
           end, {"GPUSaturated": [expected_alert(rule, gpu, busy)]})
    ut.add("GPUSaturated stays quiet just under the threshold",
           [series("DCGM_FI_DEV_GPU_UTIL", exporter, gauge(sat["threshold"] - 1, end + 5))], end, {"GPUSaturated": []})

    mem = cfg["memory"]
    end = minutes(mem["for"]) + 5
    used = mem["threshold"] + (100 - mem["threshold"]) / 2
    (rule,) = alert_rules(group, "GPUMemoryNearlyFull")
    ut.add("GPUMemoryNearlyFull fires when used / (used + free) passes the threshold",
           [series("DCGM_FI_DEV_FB_USED", exporter, gauge(used * 100, end + 5)),
            series("DCGM_FI_DEV_FB_FREE", exporter, gauge((100 - used) * 100, end + 5))],
           end, {"GPUMemoryNearlyFull": [expected_alert(rule, gpu, used)]})
    ut.add("GPUMemoryNearlyFull stays quiet at half memory",
           [series("DCGM_FI_DEV_FB_USED", exporter, gauge(12000, end + 5)),
            series("DCGM_FI_DEV_FB_FREE", exporter, gauge(12000, end + 5))], end, {"GPUMemoryNearlyFull": []})

    end = minutes(cfg["xid"]["for"]) + 5
    (rule,) = alert_rules(group, "GPUXidError")
    ut.add("GPUXidError fires with the XID code",
           [series("DCGM_FI_DEV_XID_ERRORS", exporter, gauge(79, end + 5))], end,
           {"GPUXidError": [expected_alert(rule, gpu, 79)]})
    ut.add("GPUXidError stays quiet while the last XID is 0",
           [series("DCGM_FI_DEV_XID_ERRORS", exporter, gauge(0, end + 5))], end, {"GPUXidError": []})
    return ut


# ------------------------------------------------------------------ serving-health alerts

def serving_health_tests(values: Obj, group: Obj) -> UnitTests:
    cfg = values["rules"]["servingHealth"]
    ksm = {"job": "kube-state-metrics", "instance": "10.0.0.9:8080",
           **parse_matchers(values["rules"]["selectors"]["kubeStateMetrics"])}
    ut = UnitTests()

    # --- model pods restarting
    restarts = cfg["podRestarts"]
    window = minutes(restarts["window"])
    end = window + minutes(restarts["for"]) + 5
    model = {**ksm, "namespace": NS, "pod": "iris-default-0-classifier-7d9f", "uid": "u1"}
    other = {**ksm, "namespace": NS, "pod": "batch-job-x2k", "uid": "u2"}

    def pod_info(pod: dict[str, str]) -> list[Obj]:
        metric = cfg["modelPods"]["metric"]
        return [series(metric, {**pod, **parse_matchers(cfg["modelPods"]["matchers"])}, gauge(1, end + 5))] if metric else []

    increase = 2 * restarts["threshold"] + 2
    (rule,) = alert_rules(group, "SeldonModelPodRestarting")
    crashing = {**model, "container": "classifier"}
    ut.add("SeldonModelPodRestarting fires for a model pod that keeps restarting",
           [series("kube_pod_container_status_restarts_total", crashing, counter([(increase / window, end + 5)])),
            *pod_info(model)],
           end, {"SeldonModelPodRestarting": [expected_alert(rule, crashing, increase)]})
    quiet = [series("kube_pod_container_status_restarts_total", crashing, gauge(3, end + 5)), *pod_info(model)]
    if cfg["modelPods"]["metric"]:  # a pod that is not a model pod may restart without this alert
        quiet.append(series("kube_pod_container_status_restarts_total", {**other, "container": "main"},
                            counter([(increase / window, end + 5)])))
    ut.add("SeldonModelPodRestarting stays quiet for stable model pods and for other pods", quiet, end,
           {"SeldonModelPodRestarting": []})

    # --- GPU pods pending
    pending = cfg["gpuPodsPending"]
    end = minutes(pending["for"]) + 5
    gpu_resource = "nvidia_com_gpu"
    assert re.fullmatch(pending["resourceRegex"], gpu_resource), "resourceRegex must match nvidia_com_gpu"
    llm = {**ksm, "namespace": NS, "pod": "llm-default-0-server-5c7b", "uid": "u3"}
    cpu = {**ksm, "namespace": NS, "pod": "iris-default-0-classifier-7d9f", "uid": "u1"}
    running = {**ksm, "namespace": NS, "pod": "llm-default-0-server-9f2e", "uid": "u4"}

    def phase(pod: dict[str, str], current: str) -> list[Obj]:
        return [series("kube_pod_status_phase", {**pod, "phase": p}, gauge(1 if p == current else 0, end + 5))
                for p in ("Pending", "Running")]

    def requests(pod: dict[str, str], resource: str, unit: str) -> Obj:
        return series("kube_pod_container_resource_requests",
                      {**pod, "container": "server", "node": "", "resource": resource, "unit": unit}, gauge(1, end + 5))

    (rule,) = alert_rules(group, "GPUPodPending")
    ut.add("GPUPodPending fires for a Pending pod that requests a GPU",
           [*phase(llm, "Pending"), requests(llm, gpu_resource, "integer"), requests(llm, "cpu", "core")], end,
           {"GPUPodPending": [expected_alert(rule, {"namespace": NS, "pod": llm["pod"]}, 1)]})
    ut.add("GPUPodPending stays quiet for Pending CPU pods and Running GPU pods",
           [*phase(cpu, "Pending"), requests(cpu, "cpu", "core"),
            *phase(running, "Running"), requests(running, gpu_resource, "integer")], end, {"GPUPodPending": []})

    # --- replicas below minimum (HPA minReplicas when an HPA targets the Deployment, else spec.replicas)
    below = cfg["replicasBelowMinimum"]
    end = minutes(below["for"]) + 5
    deployments = cfg["modelDeployments"]

    def deployment(name: str, spec: int, available: int, model_deployment: bool = True,
                   hpa_min: int | None = None) -> list[Obj]:
        labels = {**ksm, "namespace": NS, "deployment": name}
        out = [series("kube_deployment_spec_replicas", labels, gauge(spec, end + 5)),
               series("kube_deployment_status_replicas_available", labels, gauge(available, end + 5))]
        if model_deployment and deployments["metric"]:
            out.append(series(deployments["metric"], {**labels, **parse_matchers(deployments["matchers"])},
                              gauge(1, end + 5)))
        if hpa_min is not None:
            hpa = {**ksm, "namespace": NS, "horizontalpodautoscaler": name.split("-")[0]}
            out += [series("kube_horizontalpodautoscaler_spec_min_replicas", hpa, gauge(hpa_min, end + 5)),
                    series("kube_horizontalpodautoscaler_info",
                           {**hpa, "scaletargetref_api_version": "apps/v1", "scaletargetref_kind": "Deployment",
                            "scaletargetref_name": name}, gauge(1, end + 5))]
        return out

    (rule,) = alert_rules(group, "SeldonModelReplicasBelowMinimum")
    out = {"namespace": NS}  # one-to-one matching on (namespace, deployment) keeps only those labels
    ut.add("SeldonModelReplicasBelowMinimum fires below spec.replicas, and below an HPA's minReplicas",
           [*deployment("iris-default-0-classifier", spec=3, available=1),
            *deployment("llm-default-0-server", spec=4, available=0, hpa_min=2)], end,
           {"SeldonModelReplicasBelowMinimum": [
               expected_alert(rule, {**out, "deployment": "iris-default-0-classifier"}, 1),
               expected_alert(rule, {**out, "deployment": "llm-default-0-server"}, 0)]})
    quiet = [*deployment("iris-default-0-classifier", spec=2, available=2),
             *deployment("llm-default-0-server", spec=5, available=3, hpa_min=2)]  # HPA scaling up: above its min
    if deployments["metric"]:
        quiet += deployment("postgres", spec=1, available=0, model_deployment=False)
    ut.add("SeldonModelReplicasBelowMinimum stays quiet at the minimum, while an HPA scales up, and for other Deployments",
           quiet, end, {"SeldonModelReplicasBelowMinimum": []})
    return ut


# ------------------------------------------------------------------ recording rules

def recording_tests(values: Obj, group: Obj) -> UnitTests:
    """Two predictors (default: 890 ok + 10 failed requests a minute, half under 50 ms and all under 100 ms;
    canary: 100 ok a minute) give rates, error ratios and quantiles that can be worked out by hand."""
    base = {"namespace": NS, "deployment_name": SDEP, "predictor_version": "v1", "service": "predictions",
            "method": "POST", **parse_matchers(values["rules"]["selectors"]["seldon"])}
    server, client = "seldon_api_executor_server_requests_seconds", "seldon_api_executor_client_requests_seconds"
    default, canary = {**base, "predictor_name": "default"}, {**base, "predictor_name": "canary"}
    model = {**default, "model_name": "classifier", "model_image": "iris", "model_version": "0.1"}
    n = 20

    def hist(metric: str, labels: dict[str, str], per_minute: float, fast: float) -> list[Obj]:
        return [series(f"{metric}_count", labels, counter([(per_minute, n)])),
                series(f"{metric}_bucket", {**labels, "le": "0.05"}, counter([(fast, n)])),
                series(f"{metric}_bucket", {**labels, "le": "0.1"}, counter([(per_minute, n)])),
                series(f"{metric}_bucket", {**labels, "le": "+Inf"}, counter([(per_minute, n)]))]

    inputs = [*hist(server, {**default, "code": "200"}, 890, 445),
              *hist(server, {**default, "code": "500"}, 10, 5),
              *hist(server, {**canary, "code": "200"}, 100, 50),
              *hist(client, {**model, "code": "200"}, 900, 450)]
    dep = {"namespace": NS, "deployment_name": SDEP}
    default_, canary_ = {**dep, "predictor_name": "default"}, {**dep, "predictor_name": "canary"}
    classifier = {**default_, "model_name": "classifier"}
    level = {"deployment": "namespace_deployment_name", "predictor": "namespace_deployment_name_predictor_name",
             "model": "namespace_deployment_name_predictor_name_model_name"}
    expectations: list[tuple[str, str, list[tuple[dict[str, str], float]]]] = [  # (record, selector, samples)
        (f"{level['deployment']}:seldon_executor_requests:rate5m", "", [(dep, 1000 / 60)]),
        (f"{level['deployment']}:seldon_executor_errors:ratio_rate5m", "", [(dep, 0.01)]),
        (f"{level['predictor']}:seldon_executor_requests:rate5m", "", [(default_, 15), (canary_, 100 / 60)]),
        (f"{level['predictor']}:seldon_executor_errors:ratio_rate5m", "", [(default_, 10 / 900), (canary_, 0)]),
        (f"{level['deployment']}:seldon_executor_request_duration_seconds:histogram_quantile_5m", 'quantile="0.5"',
         [({**dep, "quantile": "0.5"}, 0.05)]),
        (f"{level['predictor']}:seldon_executor_request_duration_seconds:histogram_quantile_5m", 'quantile="0.95"',
         [({**default_, "quantile": "0.95"}, 0.095), ({**canary_, "quantile": "0.95"}, 0.095)]),
        (f"{level['model']}:seldon_model_requests:rate5m", "", [(classifier, 15)]),
        (f"{level['model']}:seldon_model_errors:ratio_rate5m", "", [(classifier, 0)]),
        (f"{level['model']}:seldon_model_request_duration_seconds:histogram_quantile_5m", 'quantile="0.99"',
         [({**classifier, "quantile": "0.99"}, 0.099)]),
    ]
    recorded = {r["record"] for r in group["rules"]}
    assert {record for record, _, _ in expectations} <= recorded, "recording rules missing from the render"
    ut = UnitTests()
    ut.tests.append({"name": "recording rules: rates, error ratios and quantiles per deployment, predictor, model",
                     "interval": "1m", "input_series": inputs,
                     "promql_expr_test": [
                         {"expr": f"{record}{{{selector}}}" if selector else record, "eval_time": "10m",
                          "exp_samples": [{"labels": series(record, labels, "")["series"], "value": value}
                                          for labels, value in samples]}
                         for record, selector, samples in expectations]})
    return ut


def webhook_certificate_tests(values: Obj, group: Obj) -> UnitTests:
    """A certificate that expires within warnDays fires once `for` has passed; one with more time left, or one
    just rotated (the recorded expiry jumps ahead), stays quiet. promtool's clock starts at 0."""
    cfg = values["rules"]["webhookCertificate"]
    (rule,) = alert_rules(group, "SeldonWebhookCertificateExpiresSoon")
    end = minutes(cfg["for"]) + 5
    labels = {"namespace": "seldon-system", "service": "seldon-operator-webhook"}
    metric = "seldon_operator_webhook_certificate_expiry_timestamp_seconds"
    left = cfg["warnDays"] - 10 if cfg["warnDays"] > 10 else cfg["warnDays"] / 2   # days left at the evaluation
    at = end * 60 + left * 86400
    ut = UnitTests()
    ut.add("SeldonWebhookCertificateExpiresSoon fires within warnDays of expiry",
           [series(metric, labels, gauge(at, end + 5))], end,
           {"SeldonWebhookCertificateExpiresSoon": [expected_alert(rule, labels, left)]})
    rotated = f"{_num(at)}x{end // 2} {_num(at + 365 * 86400)}x{end - end // 2 + 5}"
    ut.add("SeldonWebhookCertificateExpiresSoon stays quiet with time left and after a rotation",
           [series(metric, labels, gauge(end * 60 + (cfg["warnDays"] + 30) * 86400, end + 5)),
            series(metric, {**labels, "namespace": "team-a"}, rotated)], end,
           {"SeldonWebhookCertificateExpiresSoon": []})
    return ut


BUILDERS: dict[str, Callable[[Obj, Obj], UnitTests]] = {
    "seldon-recording": recording_tests,
    "slo-availability": lambda v, g: burn_tests(v, g, "availability"),
    "slo-latency": lambda v, g: burn_tests(v, g, "latency"),
    "gpu": gpu_tests,
    "serving-health": serving_health_tests,
    "webhook-certificate": webhook_certificate_tests,
}


# ------------------------------------------------------------------ tests

def _write_rules(path: Path, groups: list[Obj]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_promtool_check_rules(scenario: str, tmp_path: Path) -> None:
    groups = rule_groups(scenario)
    assert groups, f"{scenario} renders no PrometheusRule"
    rules = _write_rules(tmp_path / "rules.yaml", list(groups.values()))
    proc = promtool("check", "rules", "--lint=all", "--lint-fatal", rules, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    count = sum(len(g["rules"]) for g in groups.values())
    assert f"SUCCESS: {count} rules found" in proc.stdout


_VERIFIED: set[str] = set()  # digests of (rules, tests) promtool already passed: scenarios often share groups


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_promtool_unit_tests_fire_and_stay_quiet(scenario: str, tmp_path: Path) -> None:
    values, groups = scenario_values(scenario), rule_groups(scenario)
    assert set(groups) <= set(BUILDERS), f"rule groups without unit tests: {set(groups) - set(BUILDERS)}"
    files: dict[Path, str] = {}
    for component, group in groups.items():
        ut = BUILDERS[component](values, group)
        _assert_every_alert_covered(group, ut)
        rules = _write_rules(tmp_path / f"{component}-rules.yaml", [group])
        test_file = tmp_path / f"{component}-test.yaml"
        test_file.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m",
                                             "fuzzy_compare": True, "tests": ut.tests}, sort_keys=False))
        digest = hashlib.sha256((rules.read_text() + test_file.read_text()).encode()).hexdigest()
        if digest not in _VERIFIED:
            files[test_file] = digest
    if not files:
        return
    proc = promtool("test", "rules", *files, cwd=tmp_path)
    assert proc.returncode == 0, f"promtool test rules ({tmp_path}):\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.count("SUCCESS") == len(files), proc.stdout
    _VERIFIED.update(files.values())


def _assert_every_alert_covered(group: Obj, ut: UnitTests) -> None:
    """Each alerting rule (name + its own labels) fires in some test, and each alert name has a quiet test."""
    for rule in (r for r in group["rules"] if "alert" in r):
        own = rule.get("labels", {})
        assert any(name == rule["alert"] and own.items() <= labels.items() for name, labels in ut.fired), \
            f"no firing test for {rule['alert']} {own}"
        assert rule["alert"] in ut.quiet, f"no quiet test for {rule['alert']}"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rules_name_only_known_metrics(scenario: str) -> None:
    groups = rule_groups(scenario)
    recorded = {r["record"] for g in groups.values() for r in g["rules"] if "record" in r}
    for group in groups.values():
        for rule in group["rules"]:
            unknown = unknown_metrics(metric_names(rule["expr"]), recorded)
            assert not unknown, f"{rule.get('alert') or rule.get('record')} reads metrics nothing produces: {unknown}"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_alerts_have_severity_summary_description_runbook(scenario: str) -> None:
    values = scenario_values(scenario)
    base = values["rules"]["runbookBaseUrl"].rstrip("/")
    for group in rule_groups(scenario).values():
        for rule in (r for r in group["rules"] if "alert" in r):
            assert rule["labels"]["severity"] in {"critical", "warning", "info", "none"}
            assert values["rules"]["alertLabels"].items() <= rule["labels"].items()
            assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
            assert rule["annotations"]["runbook_url"] == f"{base}/{rule['alert'].lower()}"


# ------------------------------------------------------------------ dashboards

VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "${datasource}": "prometheus"}


def dashboard_queries(dashboard: Obj) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets (rows included) and variable queries."""
    exprs: list[str] = []

    def panels(items: list[Obj]) -> None:
        for panel in items:
            exprs.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            panels(panel.get("panels", []))
    panels(dashboard["panels"])
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((.+),\s*[a-zA-Z_]\w*\)", query)
            assert match, f"{var['name']}: only label_values(<selector>, <label>) queries are used"
            exprs.append(match.group(1))
    return exprs


def substitute(expr: str, dashboard: Obj) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    for var in dashboard["templating"]["list"]:
        expr = expr.replace(f"${{{var['name']}}}", "x").replace(f"${var['name']}", "x")
    assert "$" not in expr.replace("$1", ""), f"unknown template variable in {expr}"
    return expr


DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_queries_parse(path: Path, tmp_path: Path) -> None:
    dashboard = json.loads(path.read_text())
    exprs = [substitute(e, dashboard) for e in dashboard_queries(dashboard)]
    assert len(exprs) >= 10, f"{path.name}: expected a real dashboard, found {len(exprs)} queries"
    rules = _write_rules(tmp_path / "dashboard.yaml", [{"name": path.stem, "rules": [
        {"record": f"dashboard_query_{i}", "expr": e} for i, e in enumerate(exprs)]}])
    proc = promtool("check", "rules", rules, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_queries_name_only_known_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    for expr in dashboard_queries(dashboard):
        unknown = unknown_metrics(metric_names(substitute(expr, dashboard)))
        assert not unknown, f"{path.name}: {expr} reads metrics nothing produces: {unknown}"


# ------------------------------------------------------------------ the tokenizer itself

@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (le) (rate(a_bucket{code=~"5..", le="0.5"}[5m] offset 1h30m))', {"a_bucket"}),
    ("histogram_quantile(0.95, sum(rate(a_bucket[5m])) by (le, job))", {"a_bucket"}),
    ('x / on (ns) group_left (name) y > bool 1e3', {"x", "y"}),
    ('{__name__="up", job="x"} or label_replace(b, "dst", "$1", "src", "(.+)")', {"up", "b"}),
    ("max_over_time(ns:metric:rate5m[1h:5m]) @ start() and vector(1)", {"ns:metric:rate5m"}),
    ('count(c{a="sum(rate(x[5m]))"}) # a comment naming not_a_metric', {"c"}),
    ("(14.4 * (100 - 99.9) / 100) < inf", set()),
])
def test_metric_names_tokenizer(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize("expr", ['{__name__=~"seldon_.*"}', "no_such_function(x)"])
def test_metric_names_tokenizer_refuses_to_guess(expr: str) -> None:
    with pytest.raises(PromQLTokenError):
        metric_names(expr)
