"""`python -m pipelines.stack up|down|status|init` (`make stack`, `make stack-down`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from pipelines.stack.up import PREFIX, stack_home

    parser = argparse.ArgumentParser(prog="python -m pipelines.stack", description=__doc__)
    parser.add_argument("--home", type=Path, default=None, help="The state folder (default $STACK_HOME, else .stack/).")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="Start the stack (PostgreSQL and Redis: the machine's when they answer).")
    start.add_argument("--own", action="store_true", help="Start a PostgreSQL and a Redis of the stack's own.")
    start.add_argument("--prefix", default=PREFIX, help="The databases' prefix, and the bucket's name.")
    start.add_argument("--port", type=int, default=None, help="Airflow's port (default 8080, else a free one).")
    stop = commands.add_parser("down", help="Stop exactly what `up` started.")
    stop.add_argument("--purge", action="store_true", help="Also drop the stack's databases and its state folder.")
    commands.add_parser("status", help="What runs, the Celery workers that answer.")
    commands.add_parser("init", help="The init step, in the stack's environment (docker-compose's init service).")
    commands.add_parser("secrets", help="New secrets and passwords for docker compose, as a .env file.")
    arguments = parser.parse_args(argv)
    home = (arguments.home or stack_home()).resolve()
    try:
        if arguments.command == "up":
            from pipelines.stack.up import up

            up(home, own=arguments.own, prefix=arguments.prefix, api_port=arguments.port)
        elif arguments.command == "down":
            from pipelines.stack.up import down

            down(home, purge=arguments.purge)
        elif arguments.command == "status":
            from pipelines.stack.up import status

            return status(home)
        elif arguments.command == "secrets":
            from pipelines.stack.services import new_secrets

            print("".join(f"{name}={value}\n" for name, value in new_secrets().items()), end="")
        else:
            from pipelines.stack.init import run_init

            print(json.dumps(run_init()))
    except (RuntimeError, ValueError, OSError) as error:
        print(f"smsflow stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
