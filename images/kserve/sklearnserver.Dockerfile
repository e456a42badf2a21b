# kserve/sklearnserver:v0.20.0: KServe's scikit-learn model server (v1 and v2 REST, v2 gRPC) as upstream's
# python/sklearn.Dockerfile makes it, on the shell-less python base: BASE is ml-serving-charts/kserve-python:0.20.0
# (python 3.11 + the /opt/kserve venv from images/models/locks/kserve.lock: kserve, kserve-storage, scikit-learn
# 1.5), the sklearnserver package (not on PyPI) from the verified archive's python/sklearnserver. Arguments as the
# kserve-sklearnserver ClusterServingRuntime passes them: --model_name, --model_dir=/mnt/models, --http_port.
ARG BASE
FROM ${BASE}
USER 0:0
COPY sklearnserver/ /opt/kserve-server/sklearnserver/
COPY LICENSE /licenses/kserve/LICENSE
ENV PYTHONPATH=/opt/kserve-server
# compiled now (the root filesystem is read-only in the pods); the imports are the build's check
RUN ["/opt/kserve/bin/python", "-c", "import compileall, sys; ok = compileall.compile_dir('/opt/kserve-server', quiet=1); import sklearnserver, kserve, kserve_storage, sklearn; sys.exit(0 if ok else 1)"]
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 8081
ENTRYPOINT ["/opt/kserve/bin/python", "-m", "sklearnserver"]
