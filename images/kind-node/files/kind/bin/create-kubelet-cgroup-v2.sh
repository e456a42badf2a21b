#!/bin/bash
# cgroup v2: create /kubelet and /kubelet.slice with every controller enabled. Runs from the kubelet
# unit (after systemd moved its processes out of the root cgroup, so subtree_control is writable).
set -o errexit -o nounset -o pipefail
if [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
  echo 'ERROR: this script is for cgroup v2 only' >&2
  exit 1
fi
if grep -qv '^0$' /sys/fs/cgroup/cgroup.procs; then
  echo 'ERROR: /sys/fs/cgroup/cgroup.procs must be empty to write the top-level subtree_control' >&2
  exit 1
fi
enable_all() { sed -e 's/ / +/g' -e 's/^/+/' <"/sys/fs/cgroup/$1/cgroup.controllers" >"/sys/fs/cgroup/$1/cgroup.subtree_control"; }
enable_all /
mkdir -p /sys/fs/cgroup/kubelet /sys/fs/cgroup/kubelet.slice
enable_all /kubelet
enable_all /kubelet.slice
