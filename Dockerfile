# The smsflow image: Airflow 3 with the smsflow package, its DAGs, its provider (SMPP hook and operators, the Celery
# executor, the host name callable) and the FAB auth manager. Built by docker-compose.yml; the same lock file as
# development (uv.lock), without the dev group. Every service of the stack runs it with its own command.
FROM python:3.11-slim

ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PROJECT_ENVIRONMENT=/opt/smsflow \
    PATH=/opt/smsflow/bin:$PATH AIRFLOW_HOME=/opt/airflow SMSFLOW_WORKDIR=/opt/airflow/bucket
RUN pip install --no-cache-dir uv==0.13.8 && useradd --create-home --uid 50000 airflow

WORKDIR /app
# The third-party packages first (a layer that changes only with uv.lock), then the sources, then the project and
# its workspace member, the provider, from those sources: the provider is installed, not only its dependencies.
COPY pyproject.toml uv.lock README.md ./
COPY plugins/smsflow-provider/pyproject.toml ./plugins/smsflow-provider/
RUN uv sync --frozen --no-dev --group airflow --group deploy --no-install-workspace
COPY pipelines ./pipelines
COPY plugins ./plugins
COPY dags ./dags
COPY sql ./sql
RUN uv sync --frozen --no-dev --group airflow --group deploy \
    && python -c "from importlib.metadata import entry_points; \
assert any(e.value.startswith('smsflow_provider') for e in entry_points(group='apache_airflow_provider')), \
'the smsflow provider is not installed'; import smsflow_provider.executors.celery, pipelines.stack.init" \
    && mkdir -p /opt/airflow/bucket && chown -R airflow /opt/airflow

USER airflow
# Each service's working folder: its AIRFLOW_HOME (logs before they go to S3), its working copy of the bucket.
WORKDIR /opt/airflow
