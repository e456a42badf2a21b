"""ml-serving-charts' tooling: one standard-library-only package behind the thin commands in scripts/.

  env          where everything lives; scripts/pins.toml, parsed once
  proc         run (always with a timeout), wait_until, progress steps, the MscError hierarchy
  gomod        Go-module builds (a wrapper module, or a writable copy of the module)
  sources      upstream source no registry serves (Seldon Core): found in the mirror or downloaded, verified
  toolchain    scripts/bootstrap: the pinned tools in .tools/
  crds         scripts/place-crds: the CRDs the charts install; applying every known CRD to a cluster
  package      scripts/package: the signed chart repository
  dockerd      scripts/docker: a Docker engine on machines without systemd
  images/      scripts/images: the offline kind node image, the model and monitoring images, Seldon Core's
               operator and executor from source, smoke checks
  clusters/    scripts/cluster: the GPU pool contract, the kwok and kind providers
  kube         kubectl and Helm against a cluster
  iris         the iris model's request/response contract
  stack        what the kind tier and the demo install and call (model pods, Prometheus)
  loadgen      fixed-rate load runs as Jobs (the loadgen image) and their results; loadgen_run is the image's
               entry program (standard library only, it runs alone in the pod)
  autoscalers  metrics-server and KEDA from upstream's manifests in the pinned modules, with our images
  demo         scripts/demo

The tests reach it through pytest's pythonpath (pytest.ini); nothing here imports from tests/."""
