# ducksync server image: builds the browser assets, then runs `ducksync serve` as a non-root user.
#   docker build -t ducksync .
#   docker run -p 8000:8000 -e DUCKSYNC_API_KEYS=... -e DUCKSYNC_SECRET=... -v ducksync:/data ducksync
# Binding 0.0.0.0 requires auth (DUCKSYNC_USERS_FILE / DUCKSYNC_USERS / DUCKSYNC_API_KEYS):
# the server refuses to start without it. See docs/configuration.md.

# --- stage 1: assets (what `make build` does: npm ci + scripts/build_assets.py) -------------
FROM node:22-bookworm-slim AS assets
RUN apt-get update && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY py ./py
COPY workers ./workers
COPY scripts ./scripts
COPY web ./web
RUN PYTHONPATH=py python3 scripts/build_assets.py

# --- stage 2: runtime -------------------------------------------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DUCKSYNC_WEB_ROOT=/app/web DUCKSYNC_REMOTE=/data/remote.duckdb
WORKDIR /app
COPY pyproject.toml README.md ./
COPY py ./py
RUN pip install --no-cache-dir '.[server]' \
    && useradd --system --uid 10001 --home /app ducksync \
    && mkdir -p /data && chown ducksync /data
COPY --from=assets /src/web ./web
USER ducksync
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["ducksync", "serve", "--host", "0.0.0.0", "--port", "8000"]
