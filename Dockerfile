# The image every Kubeflow / Vertex AI pipeline step runs in (infra.kubeflow.image).
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/cvpipe/cvpipe:TAG .
#   docker push REGION-docker.pkg.dev/PROJECT/cvpipe/cvpipe:TAG
#
# The tensorflow/tfx:1.16.0 image runs Python 3.10 (TFX 1.16 declares <3.11), while cvpipe's lock
# is resolved and tested for Python 3.11, so the default base is Debian 12 + Python 3.11, exactly
# the environment the test suite runs in, installed from the same lock by the same install.sh.
# BASE_IMAGE may point at another Python 3.11 image of your registry.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TF_USE_LEGACY_KERAS=1 \
    VIRTUAL_ENV=/opt/cvpipe/.venv PATH=/opt/cvpipe/.venv/bin:$PATH
WORKDIR /opt/cvpipe

# Dependencies first (cached layer): only the lock and the installer.
COPY requirements/lock.txt requirements/lock.txt
RUN python -m venv .venv \
 && .venv/bin/python -m pip install --no-cache-dir --upgrade "pip>=24" setuptools wheel \
 && .venv/bin/python -m pip install --no-cache-dir --no-deps --ignore-requires-python \
      -r requirements/lock.txt

# The project: run_fn / preprocessing_fn are imported by dotted path from here.
COPY pyproject.toml README.md ./
COPY pipelines pipelines
COPY components components
RUN .venv/bin/python -m pip install --no-cache-dir --no-deps --no-build-isolation . \
 && .venv/bin/python -m pip check \
 && useradd --uid 10001 --create-home cvpipe

USER 10001
# Kubeflow V2 launches each step with its own command (TFX's container entrypoint).
CMD ["cvpipe", "--help"]
