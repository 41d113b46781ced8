"""`make demo` and `make airflow`: drivers that run the main job on embedded defaults.

Nothing in the core imports this package: its commands join the `smsflow` command line through the
`smsflow.commands` entry point (`commands.register`).
  bucket      the sample CRM export, the demo spec and the simulator's settings (shared by both drivers)
  direct      the campaign driven by `pipelines` alone (`smsflow demo --direct`)
  rest        the few Airflow REST calls a user's browser makes
  standalone  `airflow standalone` and the simulator, driven over HTTP (`smsflow demo`, `smsflow airflow`)
  serve       `smsflow airflow`: the stack left running, `--trigger` a campaign on it, `--stop` it
  processes   what `smsflow airflow` started, recorded in AIRFLOW_HOME, and how every one of them is stopped
  commands    the `demo` and `airflow` commands
"""
