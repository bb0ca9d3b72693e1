# The tracker as a container: `docker compose up` (see compose.yaml) or
#   docker build -t tracker . && docker run -p 8000:8000 -v tracker-data:/data tracker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRACKER_INSTANCE_PATH=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY wsgi.py ./
RUN pip install --no-cache-dir . && useradd --system --home /data tracker && mkdir -p /data \
    && chown tracker /data

USER tracker
VOLUME ["/data"]
EXPOSE 8000
# Migrate (idempotent), then serve; SIGTERM lets workers finish their requests.
CMD ["sh", "-c", "tracker db upgrade && exec tracker serve --bind 0.0.0.0:8000"]
