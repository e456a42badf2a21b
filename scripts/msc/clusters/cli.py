"""Local test clusters for the cluster tiers: up, down and status.

Usage:
  scripts/cluster up     [--provider kwok] [--name msc] [--timeout SECONDS] [--disable-qps-limits]
                         [--nodes FILE | --nodes-from-chart [VALUES] | --no-nodes]
  scripts/cluster status [--provider kwok] [--name msc]
  scripts/cluster down   [--provider kwok] [--name msc]
  scripts/cluster kubeconfig [--provider kwok] [--name msc]   # print the kubeconfig path
  scripts/cluster load   --provider kind [--name msc] IMAGE...  # kind load docker-image into the workers
  scripts/cluster nodes  > nodes.yaml        # the default fake nodes (multi-document YAML)

`up` prints the kubeconfig path on stdout (progress goes to stderr). The default nodes are a CPU pool
(2 nodes) and two GPU pools, gpu-a100 (2 x 4 A100) and gpu-l4 (2 x 2 L4): the pools of
values/gpu-node-pool/simulated.yaml, which `--nodes-from-chart` renders with the chart itself.
Tests that `helm install` gpu-node-pool with provider simulated should use `--no-nodes` (same names).

kwok: msc.clusters.kwok (a real control plane, fake nodes). kind: msc.clusters.kind (a control plane,
a CPU worker and a GPU worker from the offline node image).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..env import ROOT
from ..proc import ClusterError, MscError
from . import DEFAULT_NAME, PROVIDERS, cluster
from .common import log
from .contract import SIMULATED_VALUES, default_nodes, nodes_yaml
from .kind import KindCluster


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--provider", choices=PROVIDERS, default="kwok", help="cluster provider (default kwok)")
    common.add_argument("--name", default=DEFAULT_NAME, help=f"cluster name (default {DEFAULT_NAME})")
    p_up = sub.add_parser("up", parents=[common], help="create or reuse a cluster and apply its fake nodes")
    nodes = p_up.add_mutually_exclusive_group()
    nodes.add_argument("--nodes", type=Path, metavar="FILE",
                       help="multi-document YAML of v1 Node objects (default: the pools of `scripts/cluster nodes`)")
    nodes.add_argument("--nodes-from-chart", type=Path, nargs="?", const=SIMULATED_VALUES, metavar="VALUES",
                       help="render the nodes with the gpu-node-pool chart's simulated provider "
                            f"(default values: {SIMULATED_VALUES.relative_to(ROOT)})")
    nodes.add_argument("--no-nodes", action="store_true", help="create no nodes")
    p_up.add_argument("--timeout", type=float, default=180, help="seconds to wait for each stage (default 180)")
    p_up.add_argument("--disable-qps-limits", action="store_true",
                      help="lift the controllers' client QPS limits (for hundreds of nodes; applies when created)")
    sub.add_parser("down", parents=[common], help="delete the cluster: every process and file it made")
    sub.add_parser("status", parents=[common], help="components (pid, health, memory) and nodes")
    sub.add_parser("nodes", help="print the default fake nodes (multi-document YAML)")
    sub.add_parser("kubeconfig", parents=[common], help="print the kubeconfig path")
    p_load = sub.add_parser("load", parents=[common], help="kind load docker-image into the workers (kind only)")
    p_load.add_argument("refs", nargs="+", metavar="IMAGE")
    args = parser.parse_args(argv)
    try:
        if args.command == "nodes":
            sys.stdout.write(nodes_yaml(default_nodes()))
            return 0
        target = cluster(args.provider, args.name)
        if args.command == "kubeconfig":
            print(target.kubeconfig)
            return 0
        if args.command == "load":
            if not isinstance(target, KindCluster):
                raise ClusterError("load is for --provider kind (kwok runs no images)")
            log(f"loaded in {target.load(args.refs):.1f}s")
            return 0
        if args.command == "up":
            print(target.up(args.nodes, not args.no_nodes, args.timeout, args.disable_qps_limits, args.nodes_from_chart))
            return 0
        if args.command == "down":
            target.down()
            return 0
        return target.status()
    except MscError as err:
        log(f"FAILED: {err}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; `scripts/cluster down` removes whatever was started")
        return 130
    except BrokenPipeError:  # `scripts/cluster status | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
