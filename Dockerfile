# newswatch workers for docker-compose.yml (one image, one command per service).
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newswatch ./newswatch
COPY pipeline ./pipeline
COPY ingest ./ingest
COPY enrich ./enrich
COPY index ./index
COPY alerts ./alerts
COPY config ./config
RUN pip install '.[all]' && useradd --create-home --uid 10001 newswatch && mkdir -p /data && chown newswatch /data
USER newswatch
ENV NEWSWATCH_DATA_DIR=/data
ENTRYPOINT ["newswatch"]
CMD ["--help"]
