"""`make stack` / `make stack-down`: the production stack on one machine (issue 13): PostgreSQL, Redis, moto (S3 and
SQS), Airflow 3 with the FAB auth manager and the Celery executor, two Celery workers in working folders of their
own, the receiver, the short-link service and the SMSC simulator.

    services   the stack as data (services, commands, settings): docker-compose.yml says the same
    infra      PostgreSQL, Redis and moto_server: the machine's own when they answer, else started here
    init       the init step (databases, Airflow's and FAB's tables, users, pools, connections, the bucket)
    up         start, record, stop: `python -m pipelines.stack up|down|status`
    processes  the processes by pid and start time, a session's members
"""
