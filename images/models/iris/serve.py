"""Entry point of the iris component images (images/models/iris/Dockerfile): one recipe, three components.

  serve.py --build   at build time: train the model when the component is the classifier, compile the code
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
        if component == "IrisClassifier":
            import train   # only the classifier's image carries train.py (and needs scikit-learn's data)
            if train.main([str(HERE)]) != 0:
                return 1
        return 0 if compileall.compile_dir(str(HERE), quiet=1) else 1
    os.execv(MICROSERVICE, [MICROSERVICE, component, "--service-type", service_type, *argv])
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
