# Lantern's image: one image for `lantern worker`, `lantern api` and the one-shot topic creation
# (docker-compose.yml runs all three). Slim Python, the locked runtime packages, a non-root user.
#
#   docker build -t lantern .
#   docker run -e LANTERN_KAFKA_BOOTSTRAP=broker:9092 -p 8080:8080 lantern api
#   docker run -e LANTERN_KAFKA_BOOTSTRAP=broker:9092 -e LANTERN_WORKER_METRICS_PORT=9100 \
#     -e HEALTHCHECK_URL=http://127.0.0.1:9100/metrics lantern worker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# The locked runtime packages first, hashes checked (this layer outlives code changes); the
# lock holds the build backend too, so Lantern itself installs below without fetching anything.
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY lantern lantern
COPY render render
COPY streams streams
COPY api api
COPY pinning pinning
COPY monitoring monitoring
# the C loops (render/_gifcodec.c, render/_mediancut.c) are compiled here; the compiler leaves after
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-deps --no-build-isolation . \
    && pip check \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* build ./*.egg-info

# Everything a process writes lives under /data: the local content store, its frame blocks
# (<store>-blocks) and faust's folder (beside the store). Nothing in it is shared: workers meet
# only through Kafka and the content store (Kubo, in docker-compose.yml).
RUN useradd --system --uid 10001 --user-group --home-dir /home/lantern --create-home lantern \
    && mkdir -p /data \
    && chown lantern:lantern /data
ENV LANTERN_STORE_ROOT=/data/store \
    LANTERN_API_HOST=0.0.0.0
WORKDIR /data
USER lantern

EXPOSE 8080 9100

# The API's /healthz by default; a worker's is its metrics port (LANTERN_WORKER_METRICS_PORT),
# so a worker sets HEALTHCHECK_URL=http://127.0.0.1:<that port>/metrics.
ENV HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4).close()"]

ENTRYPOINT ["lantern"]
CMD ["--help"]
