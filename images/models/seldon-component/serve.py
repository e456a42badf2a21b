"""Entry point of the Seldon python-wrapper component images (images/models/seldon-component/Dockerfile).

  serve.py --build   at build time: run train.py when the component ships one (the iris classifier), compile
  serve.py [ARGS]    at run time: exec seldon-core-microservice <SELDON_COMPONENT> --service-type <SERVICE_TYPE> ARGS
"""
from __future__ import annotations

import compileall
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MICROSERVICE = "/opt/seldon/bin/seldon-core-microservice"


def main(argv: list[str]) -> int:
    component, service_type = os.environ["SELDON_COMPONENT"], os.environ["SERVICE_TYPE"]
    if argv[:1] == ["--build"]:
        if (HERE / "train.py").exists():
            import train   # only a component that trains its model at build time ships train.py
            if train.main([str(HERE)]) != 0:
                return 1
        return 0 if compileall.compile_dir(str(HERE), quiet=1) else 1
    os.execv(MICROSERVICE, [MICROSERVICE, component, "--service-type", service_type, *argv])
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
