# The smsflow image: Airflow 3 with the smsflow package, its DAGs and its SMPP provider.
# Built by docker-compose.yml; the same lock file as development (uv.lock), without the dev group.
FROM python:3.11-slim

ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/smsflow \
    PATH=/opt/smsflow/bin:$PATH AIRFLOW_HOME=/opt/airflow
RUN pip install --no-cache-dir uv==0.13.8 && useradd --create-home --uid 50000 airflow

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY plugins/smsflow-provider/pyproject.toml ./plugins/smsflow-provider/
RUN uv sync --frozen --no-dev --group airflow --group deploy --no-install-workspace
COPY pipelines ./pipelines
COPY plugins ./plugins
COPY dags ./dags
COPY sql ./sql
RUN uv sync --frozen --no-dev --group airflow --group deploy && mkdir -p /opt/airflow /bucket \
    && chown -R airflow /opt/airflow /bucket

USER airflow
