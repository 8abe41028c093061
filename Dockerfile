# The image every Kubeflow / Vertex AI pipeline step, Vertex AI training replica and Dataflow
# worker runs in (infra.kubeflow.image; Dataflow gets it as --sdk_container_image).
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/cvpipe/cvpipe:TAG .
#   docker push REGION-docker.pkg.dev/PROJECT/cvpipe/cvpipe:TAG
#
# Debian 12 + Python 3.11, the environment the test suite runs in (the tensorflow/tfx:1.16.0 image
# runs Python 3.10). Three stages:
#   beam     the Apache Beam SDK image of the locked Beam version, for its worker boot program
#            (/opt/apache/beam/boot: what Dataflow Runner v2 starts in a custom container);
#   builder  compilers, and the virtual environment made from requirements/lock-image.txt (the
#            lock without the Jupyter stack and test tools: requirements/image_deps.py) — annoy
#            and pyfarmhash have no wheels for this platform and are compiled here;
#   runtime  the slim base with that environment and the boot program: no compilers.
# `python requirements/image_deps.py check-wheels` proves every pin is a wheel for this platform
# or built in the builder stage.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG BEAM_VERSION=2.72.0

FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam

FROM ${PYTHON_IMAGE} AS builder
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cvpipe
# Dependencies first (a cached layer): only the image lock and its checker.
COPY requirements/lock.txt requirements/lock-image.txt requirements/image_deps.py requirements/
RUN python -m venv .venv \
 && .venv/bin/python -m pip install --no-cache-dir --upgrade "pip>=24" setuptools wheel \
 && .venv/bin/python -m pip install --no-cache-dir --no-deps --ignore-requires-python \
      -r requirements/lock-image.txt
# The project: run_fn / preprocessing_fn are imported by dotted path from the installed package.
COPY pyproject.toml README.md ./
COPY pipelines pipelines
COPY components components
RUN .venv/bin/python -m pip install --no-cache-dir --no-deps --no-build-isolation . \
 && .venv/bin/python requirements/image_deps.py pip-check

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TF_USE_LEGACY_KERAS=1 TF_ENABLE_ONEDNN_OPTS=1 \
    VIRTUAL_ENV=/opt/cvpipe/.venv PATH=/opt/cvpipe/.venv/bin:$PATH
WORKDIR /opt/cvpipe
COPY --from=builder /opt/cvpipe/.venv /opt/cvpipe/.venv
COPY --from=beam /opt/apache/beam /opt/apache/beam
RUN useradd --uid 10001 --create-home cvpipe \
 && python -c "import apache_beam, components, pipelines.cli, tfx, tensorflow_transform"
USER 10001
# Dataflow starts the Beam worker boot program; Kubeflow V2 and Vertex AI training give each step
# its own command (TFX's container entrypoints), which replaces this entrypoint.
ENTRYPOINT ["/opt/apache/beam/boot"]
