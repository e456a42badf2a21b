"""Entry point of the Seldon python-wrapper component images (images/models/seldon-component/Dockerfile).

  serve.py --build   at build time: run train.py when the component ships one (the iris classifier), compile
  serve.py [ARGS]    at run time: run seldon-core-microservice <SELDON_COMPONENT> --service-type <SERVICE_TYPE> ARGS

SIGTERM is held for SELDON_SHUTDOWN_DELAY seconds (default 10) before it reaches the server: the operator's
preStop hook for model containers, `/bin/sh -c "/bin/sleep 10"`, cannot run in these shell-less images, and
without that pause the server stops accepting while the Service still routes requests to the pod.
"""
from __future__ import annotations

import compileall
import os
import signal
import subprocess
import sys
import time
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
    server = subprocess.Popen([MICROSERVICE, component, "--service-type", service_type, *argv])
    delay = float(os.environ.get("SELDON_SHUTDOWN_DELAY", "10"))

    def stop(signum: int, _frame: object) -> None:
        if signum == signal.SIGTERM:
            time.sleep(delay)   # what the operator's preStop sleep would have given
        server.send_signal(signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = server.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
