"""smsflow: SMS campaigns as data pipelines. Airflow-free logic (see SPEC.md)."""
