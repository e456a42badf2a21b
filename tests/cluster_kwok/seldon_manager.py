"""The real Seldon Core 1.17.1 manager (.tools/bin/seldon-manager, built from the verified source by
`scripts/bootstrap kwok`) standing in for the pod of a seldon-operator release on a kwok cluster, where pods
run no containers.

- It runs as a local process with the arguments and environment of the release's Deployment (ports moved to
  free ones), serving its webhook with the certificate and key of the release's Secret, exactly as the chart
  made them. Given a kubeconfig from service_account_kubeconfig it authenticates as the release's
  ServiceAccount, so the chart's RBAC is what the API server enforces on every call it makes.
- Leader election needs the pod's namespace, which controller-runtime 0.11 reads only from the
  ServiceAccount mount: with leader_election=True the manager runs in a private mount namespace whose /run
  holds that one file (needs `unshare --mount`, i.e. root); otherwise the flag is dropped (one replica needs
  no lock).
- The API server reaches that webhook the way it reaches any webhook registered through a Service: kwokctl
  starts kube-apiserver with --enable-aggregator-routing (msc.clusters.kwok), so the release's
  ValidatingWebhookConfiguration (service, caBundle, failurePolicy Fail, all untouched) is resolved through the
  Service's EndpointSlices, and one EndpointSlice of ours names this host's address and the manager's port. The
  API server verifies the certificate against the CA bundle and the Service's DNS name
  (<service>.<namespace>.svc), as in a real cluster. A loopback address cannot be used: the API server refuses
  it in an EndpointSlice ("may not be in the loopback range"). The release's Deployment is scaled to 0: its
  one replica is this process, and a kwok pod would otherwise be an endpoint that answers nothing.
Used by tests/cluster_kwok/test_kwok_operator.py and the Seldon scale bench (tests/bench)."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from harness import find, tool
from harness.cluster import Kubectl, wait_until
from harness.loopback import free_port
from msc.clusters.kwok import KwokCluster

MANAGER = tool("seldon-manager")
SELDON_OPERATOR_MISSING = ("no .tools/bin/seldon-manager: `scripts/bootstrap kwok` builds the Seldon Core 1.17.1 manager "
                           "from the verified source (scripts/test does)")
ROUTING_FLAG = "--enable-aggregator-routing=true"
SLICE_MANAGER = "ml-serving-charts.io.tests"    # endpointslice.kubernetes.io/managed-by of our EndpointSlice
Obj = dict[str, Any]


def host_address() -> str:
    """A non-loopback IPv4 address of this host: the source address of its default route, else the first
    global-scope address `ip` lists. The API server (on this host) connects to it locally."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("198.51.100.1", 9))    # TEST-NET-2: a route lookup only, nothing is sent
        address = s.getsockname()[0]
        if not address.startswith(("127.", "169.254.", "0.")):
            return address
    listed = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True,
                                       text=True, check=True).stdout)
    for link in listed:
        for info in link.get("addr_info", []):
            return info["local"]
    raise RuntimeError("this host has no non-loopback IPv4 address for the API server to call the webhook at")


def apiserver_routes_to_endpoints(cluster: KwokCluster) -> bool:
    """kube-apiserver of the cluster runs with --enable-aggregator-routing=true (a cluster kept from before
    msc.clusters.kwok set it does not)."""
    pid = cluster.pids().get("kube-apiserver")
    try:
        return pid is not None and ROUTING_FLAG in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return False


def service_account_kubeconfig(kubectl: Kubectl, namespace: str, account: str, path: Path,
                               duration: str = "3h") -> Path:
    """A kubeconfig for the cluster of `kubectl` that authenticates as ServiceAccount `account` with a bound token
    from the TokenRequest API (what the pod would mount), written to `path`."""
    token = kubectl("create", "token", account, "-n", namespace, f"--duration={duration}").stdout.strip()
    config = json.loads(kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout)
    user = f"system:serviceaccount:{namespace}:{account}"
    config["users"] = [{"name": user, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = user
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


# The file controller-runtime 0.11 takes the leader-election namespace from (/var/run is /run).
POD_NAMESPACE_FILE = "/run/secrets/kubernetes.io/serviceaccount/namespace"
_IN_POD_NAMESPACE = ('mount -t tmpfs -o size=1m tmpfs /run && mkdir -p "$(dirname {file})" '
                     '&& printf %s "$0" > {file} && exec "$@"').format(file=POD_NAMESPACE_FILE)


def can_fake_pod_namespace() -> bool:
    """`unshare --mount` works here (root, or a user namespace allowed): the manager can run with leader election."""
    probe = ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /run"]
    with contextlib.suppress(OSError):
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    return False


def _in_pod_namespace(command: list[str], namespace: str) -> list[str]:
    """`command` in a private mount namespace where POD_NAMESPACE_FILE names `namespace`: only this process
    sees the tmpfs over /run (the manager needs nothing else from /run: it reaches the API server by address)."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _IN_POD_NAMESPACE, namespace, *command]


def _environment(container: Obj, objs: list[Obj], namespace: str) -> dict[str, str]:
    """The container's env as the kubelet would resolve it (values, the pod's namespace, ConfigMap keys)."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        source = var.get("valueFrom", {})
        if source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = namespace
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[var["name"]] = find(objs, "ConfigMap", ref["name"])["data"][ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[var["name"]] = base64.b64decode(find(objs, "Secret", ref["name"])["data"][ref["key"]]).decode()
    return env


@dataclass
class Manager:
    proc: subprocess.Popen
    namespace: str              # the operator release's namespace
    address: str                # where the webhook is served (host address)
    webhook_port: int
    metrics_port: int
    log: Path
    user: str = ""              # whom its kubeconfig authenticates as ("": the cluster admin's)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def metrics(self) -> str:
        """The manager's Prometheus metrics (controller-runtime's reconcile counters, workqueue, REST client)."""
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            return response.read().decode()

    def reconciles(self) -> dict[str, float]:
        """controller_runtime_reconcile_total by result (success, error, requeue, requeue_after)."""
        out: dict[str, float] = {}
        for line in self.metrics().splitlines():
            m = re.match(r'controller_runtime_reconcile_total\{.*result="(\w+)".*\} (\S+)', line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
        return out


def _serving(address: str, port: int) -> bool:
    """The webhook server completes a TLS handshake (its certificate is checked by the API server, not here)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=2) as raw, context.wrap_socket(raw):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def run_manager(kubeconfig: Path, objs: list[Obj], namespace: str, workdir: Path,
                extra_env: dict[str, str] | None = None, leader_election: bool = False) -> Iterator[Manager]:
    """The manager of the seldon-operator release whose manifest is `objs`, running until the block ends, with the
    credentials of `kubeconfig`; with leader_election, as the release asks (can_fake_pod_namespace() must hold)."""
    container = find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {**_environment(container, objs, namespace), **(extra_env or {})}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in container.get("args", [])]
    webhook_port, metrics_port = free_port(), free_port()
    # The pod's ports are the host's here: free ones instead (the webhook server listens on every address:
    # 1.17.1's manager has no flag for its host). Metrics on loopback only.
    dropped = ("--webhook-port=", "--metrics-addr=") + (() if leader_election else ("--enable-leader-election",))
    args = [a for a in args if not a.startswith(dropped)]
    args += [f"--webhook-port={webhook_port}", f"--metrics-addr=127.0.0.1:{metrics_port}"]
    # controller-runtime serves the webhook from $TMPDIR/k8s-webhook-server/serving-certs: the chart's Secret.
    certs = workdir / "k8s-webhook-server" / "serving-certs"
    certs.mkdir(parents=True, exist_ok=True)
    secret = next(o for o in objs if o["kind"] == "Secret" and o.get("type") == "kubernetes.io/tls")
    for key in ("tls.crt", "tls.key"):
        (certs / key).write_bytes(base64.b64decode(secret["data"][key]))
    log_path = workdir / "manager.log"
    command = [str(MANAGER), *args]
    if leader_election:
        command = _in_pod_namespace(command, namespace)
    with log_path.open("w") as log:
        proc = subprocess.Popen(command,
                                env={**os.environ, **env, "KUBECONFIG": str(kubeconfig), "TMPDIR": str(workdir)},
                                stdout=log, stderr=subprocess.STDOUT)
    manager = Manager(proc, namespace, host_address(), webhook_port, metrics_port, log_path)
    try:
        wait_until(lambda: not manager.alive() or _serving(manager.address, webhook_port), 60,
                   "the Seldon manager's webhook server")
        if not manager.alive():
            raise RuntimeError(f"seldon-manager exited ({proc.returncode}):\n{manager.log_tail()}")
        yield manager
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def route_webhook(kubectl: Kubectl, objs: list[Obj], manager: Manager, timeout: float = 60) -> str:
    """Make the release's registered webhook reach `manager`: its Deployment scaled to 0 (this process is its
    replica) and an EndpointSlice for its webhook Service naming the manager's address and port. Returns the
    Service name once the API server's informer has the slice (a server-side dry run of an invalid
    SeldonDeployment comes back refused by the webhook itself)."""
    namespace = manager.namespace
    webhooks = find(objs, "ValidatingWebhookConfiguration")["webhooks"]
    service_ref = webhooks[0]["clientConfig"]["service"]
    service = find(objs, "Service", service_ref["name"])
    port_name = next(p["name"] for p in service["spec"]["ports"] if p["port"] == service_ref.get("port", 443))
    deployment = find(objs, "Deployment")["metadata"]["name"]
    kubectl("scale", "deployment", deployment, "-n", namespace, "--replicas=0")
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{service['metadata']['name']}-host", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service["metadata"]["name"],
                                "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": manager.webhook_port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [manager.address], "conditions": {"ready": True}}],
    }
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=msc-tests", "-f", "-",
            stdin=json.dumps(endpoint_slice))
    # labelled as the webhook's objectSelector asks (a release with controllerId only sees its own objects)
    labels = (webhooks[0].get("objectSelector") or {}).get("matchLabels") or {}
    probe = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
             "metadata": {"name": "webhook-probe", "namespace": namespace, **({"labels": labels} if labels else {})},
             "spec": {"predictors": []}}     # "Graph contains no predictors"

    def refused_by_webhook() -> bool:
        proc = kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe), check=False)
        return proc.returncode != 0 and "Graph contains no predictors" in proc.stderr   # the operator's words

    def detail() -> str:
        last = kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe), check=False).stderr.strip()
        return f"last answer: {last}\nmanager log:\n{manager.log_tail()}"

    wait_until(refused_by_webhook, timeout, "the API server to call the Seldon webhook", detail=detail)
    return service["metadata"]["name"]
