"""Demo, offline stage: render an example graph with Helm 4, validate it for every supported
Kubernetes minor and against the CRDs, and print what a cluster would receive."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import KUBERNETES_MINORS, VALUES, render, validate_objects  # noqa: E402


def main() -> int:
    example = VALUES / "seldon-model" / "transformer.yaml"
    chart, values = ("seldon-model", [example]) if example.exists() else ("ml-common-probe", [])
    print(f"[demo] No cluster yet: the kind demo arrives with the kind tier. Rendering {chart} "
          f"{'with ' + example.name if values else '(defaults)'} and validating it offline instead.")
    objs = render(chart, values_files=values, release="demo", namespace="models")
    for obj in objs:
        print(f"[demo]   {obj['apiVersion']:<38} {obj['kind']:<24} {obj['metadata']['name']}")
    problems = validate_objects(objs)
    if problems:
        print("[demo] INVALID:\n  " + "\n  ".join(problems))
        return 1
    print(f"[demo] {len(objs)} objects valid for Kubernetes {KUBERNETES_MINORS[0]}..{KUBERNETES_MINORS[-1]} and their CRDs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
