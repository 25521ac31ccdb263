# syntax=docker/dockerfile:1
# Visualizer image: the Streamlit app with its models prepared at build time. `modelviz app prepare` converts the
# packaged EfficientNet-Lite weights and trains the small Fashion-MNIST models into MODELVIZ_CACHE, all offline, so
# pods start serving without minutes of conversion and training each. TensorFlow runs only in the builder stage: the
# prepared models are served by LiteRT (ai-edge-litert), which needs no TensorFlow, so the image leaves it out (about
# 2 GB). Users' own .keras/.h5 models need TensorFlow at run time: build with `--build-arg EXTRAS=app,tensorflow`.
#
#   docker build -f Dockerfile.app -t ghcr.io/modelviz/visualizer:0.1.0 .
#
# With no configuration mounted it serves the baked demo (EfficientNet-Lite0/1 on the ImageNet photo sample):
#   docker run -p 8501:8501 ghcr.io/modelviz/visualizer:0.1.0

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The dependency lists alone, pulled out of pyproject.toml: the stages below copy these files, and a copied file is
# cached by its content, so a pyproject.toml edit that leaves the dependencies as they were (a tool's settings, the
# dev extra) reuses the installed dependencies and the prepared models.
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
# The extras the served image installs (comma-separated); `app,tensorflow` adds Keras model loading.
ARG EXTRAS=app
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['dependencies'], *(d for e in os.environ['EXTRAS'].split(',') for d in p['optional-dependencies'][e]), sep=chr(10))" > requirements.txt \
 && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['optional-dependencies']['tensorflow'], sep=chr(10))" > tensorflow.txt

# Dependencies first, so editing the sources (or the README) does not reinstall them.
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A venv at the same path in every stage: its scripts' shebangs point at /opt/venv/bin/python.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY --from=requirements /src/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

# The served environment: what the final image copies.
FROM deps AS venv
# An ARG ends with its stage: the same default again (a build argument given on the command line sets both).
ARG EXTRAS=app
# hatchling reads the README into the package metadata.
COPY pyproject.toml README.md ./
COPY visualizer/ visualizer/
COPY cli/ cli/
RUN pip install ".[${EXTRAS}]" \
 && pip check

# TensorFlow converts the EfficientNet-Lite weights to LiteRT and trains the Fashion-MNIST models; nothing of this
# stage but the prepared cache reaches the image.
FROM deps AS builder
# The Fashion-MNIST IDX files the demo models are trained on (/usr/share/datasets/fashion-mnist).
RUN apt-get update \
 && apt-get install -y --no-install-recommends dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/*
COPY --from=requirements /src/tensorflow.txt /tmp/tensorflow.txt
RUN pip install -r /tmp/tensorflow.txt
# Only the modules `modelviz app prepare` runs, imported from the sources (nothing installed, no pyproject.toml):
# editing the pages, the README or the project's settings does not retrain the models.
COPY visualizer/modelviz_app/__init__.py visualizer/modelviz_app/cli.py visualizer/modelviz_app/config.py visualizer/modelviz_app/paths.py visualizer/modelviz_app/
COPY visualizer/modelviz_app/models/ visualizer/modelviz_app/models/
COPY visualizer/modelviz_app/datasets/ visualizer/modelviz_app/datasets/
COPY cli/ cli/
# Unbuffered and without TensorFlow's start-up chatter, so the build log shows each model as it is prepared.
ENV MODELVIZ_CACHE=/opt/modelviz/cache \
    PYTHONPATH=/src/visualizer:/src/cli \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2
RUN python -m modelviz_cli app prepare

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="modelviz-visualizer" \
      org.opencontainers.image.description="Streamlit visualizer comparing image classifiers, with prepared models" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="python:3.11-slim-bookworm"
# The fashion-mnist catalog dataset reads the same Debian files at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 modelviz \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/modelviz --shell /usr/sbin/nologin modelviz
COPY --from=venv /opt/venv /opt/venv
# Owned by the app user: outside Kubernetes (docker run) predictions are cached next to the prepared models; the
# operator's pods keep the root read-only and link this tree into a writable volume instead (seed-cache).
COPY --from=builder --chown=10001:10001 /opt/modelviz/cache /opt/modelviz/cache
# The default configuration: the demo's ImageNet models on the bundled photo sample. The operator's pods mount their
# ConfigMap over /etc/modelviz; `docker run -v my.yaml:/etc/modelviz/config.yaml` (or MODELVIZ_CONFIG) replaces it.
COPY examples/app-config/demo.yaml /etc/modelviz/config.yaml
ENV PATH=/opt/venv/bin:$PATH \
    MODELVIZ_CACHE=/opt/modelviz/cache \
    MODELVIZ_CONFIG=/etc/modelviz/config.yaml \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
WORKDIR /home/modelviz
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8501
# The slim image has no curl; Python's urllib raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["modelviz", "app", "serve", "--address", "0.0.0.0", "--port", "8501"]
