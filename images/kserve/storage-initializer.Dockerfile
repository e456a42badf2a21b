# kserve/storage-initializer:v0.20.0: the init container the KServe controller puts into every predictor pod whose
# storageUri is remote (pvc://, s3://, gs://, https://, hf://): `initializer-entrypoint SRC_URI DEST_PATH ...`
# downloads with kserve-storage (python/storage, 0.20.0 from PyPI). As upstream's python/storage-initializer.Dockerfile
# makes it, on the shell-less python base: BASE is ml-serving-charts/kserve-python:0.20.0 (the same venv as the
# sklearnserver, so both images share its layer), the entry script from the verified archive.
ARG BASE
FROM ${BASE}
USER 0:0
COPY initializer-entrypoint /storage-initializer/scripts/initializer-entrypoint
COPY LICENSE /licenses/kserve/LICENSE
RUN ["/opt/kserve/bin/python", "-c", "import kserve_storage; from kserve_storage import Storage"]
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/opt/kserve/bin/python", "/storage-initializer/scripts/initializer-entrypoint"]
