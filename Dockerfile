# The stepmetrics worker / reader API image (docker-compose.yml runs both).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY producers ./producers
COPY processors ./processors
COPY store ./store
COPY stack ./stack
RUN pip install ".[processor,api]" \
    && useradd --system --create-home --home-dir /home/stepmetrics stepmetrics

# The worker keeps faust's local table state in its working directory.
USER stepmetrics
WORKDIR /home/stepmetrics
CMD ["stepmetrics", "--help"]
