"""`python -m smsflow_provider.users`: the stack's FAB users made or given their password, the passwords read from
stdin as JSON (`[{"username", "role", "password"}]`), never from a command line any local user could read in
/proc (issue 13: `make stack`'s init)."""

from __future__ import annotations

import json
import sys


def put_users(users: list[dict]) -> list[str]:
    """Each user created with its role and password, or, already there, given this password; what was done."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    done = []
    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        for user in users:
            role = security.find_role(user["role"])
            if role is None:
                raise SystemExit(f"{user['role']} is not a FAB role: {[r.name for r in security.get_all_roles()]}")
            existing = security.find_user(username=user["username"])
            if existing is None:
                made = security.add_user(user["username"], user["username"], "smsflow",
                                         f"{user['username']}@smsflow.invalid", role, user["password"])
                if not made:
                    raise SystemExit(f"user {user['username']} not created")
                done.append(f"{user['username']} created ({user['role']})")
            else:
                security.reset_password(existing.id, user["password"])
                done.append(f"{user['username']}: password set")
    return done


if __name__ == "__main__":
    print("\n".join(put_users(json.load(sys.stdin))))
