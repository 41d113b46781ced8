"""`smsflow users add|list|activate|deactivate|role|reset-2fa|password`: the extranet's people from the command
line (USER-1, USER-2, USER-4), on the same store functions as the `/users` pages; every change is audited with the
shell user as its author. A password is never taken from the command line (it would show in `ps` and the shell's
history): it is generated and printed once, or read from stdin."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.cli.app import app, console, open_account_store, out, print_json, store_option

group = typer.Typer(help="The extranet's users (USER-1..4): add, list, activate or deactivate, roles, 2FA resets.",
                    no_args_is_help=True)
app.add_typer(group, name="users")

PASSWORD_STDIN = "Read the password from stdin (one line), never from the command line."


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _stdin_password() -> str:
    """The first line of stdin, as the password (USER-1 is checked by the store)."""
    from pipelines.store.users import UserError

    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UserError("password: nothing on stdin (--password-stdin reads one line) [USER-1]")
    return line


def _as_dict(user) -> dict:
    return {"id": user.id, "account": user.account_id, "login": user.login, "email": user.email,
            "first_name": user.first_name, "last_name": user.last_name, "mobile": user.mobile, "role": user.role,
            "superadmin": user.superadmin, "active": user.active, "second_factor": user.second_factor,
            "password_temporary": user.password_temporary,
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None}


@group.command("add")
def add(
    email: str = typer.Argument(..., help="The user's email; also their login unless --login is given."),
    account: str = typer.Option("default", "--account", help="The user's account (ACC-3)."),
    role: str = typer.Option("user", "--role", help="admin (users, settings, blacklists, credits) or user "
                                                    "(campaigns, lists, reports)."),
    first_name: str = typer.Option("", "--first-name", help="First name."),
    last_name: str = typer.Option("", "--last-name", help="Last name."),
    mobile: str = typer.Option(None, "--mobile", help="Mobile number, where SMS login codes go (USER-2)."),
    login: str = typer.Option(None, "--login", help="The identifier to log in with (default: the email)."),
    superadmin: bool = typer.Option(False, "--superadmin", help="A platform administrator (global blacklist, "
                                                                "accounts)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN + " Default: a temporary "
                                        "password and an activation code are generated and printed once (USER-3: "
                                        "the user chooses their own password at first login)."),
    store: str = store_option(),
) -> None:
    """Add a user to an account (USER-4)."""
    from pipelines.store import people

    engine = open_account_store(store)
    user, password, code = people.add_person(engine, account, email, role=role, login=login, first_name=first_name,
                                       last_name=last_name, mobile=mobile, superadmin=superadmin,
                                       password=_stdin_password() if password_stdin else None)
    people.record(engine, "user.add", account_id=user.account_id, actor=_actor(), target=user.login,
                  detail=f"role={user.role}" + (", superadmin" if superadmin else ""))
    console.print(f"User [bold]{escape(user.login)}[/] added to account {escape(user.account_id)} as {user.role}.",
                  highlight=False, soft_wrap=True)
    if code is not None:
        from pipelines.store.second_factor import CODE_MINUTES

        console.print("Temporary password, then the activation code their first login asks for (valid "
                      f"{CODE_MINUTES['activation']} minutes; after that, « Mot de passe oublié » on the login page "
                      "emails new ones), shown once:", highlight=False, soft_wrap=True)
        typer.echo(password)
        typer.echo(code)


@group.command("list")
def list_(
    account: str = typer.Option("default", "--account", help="The account whose users to list."),
    store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the users as JSON."),
) -> None:
    """An account's users: login, name, role, whether active, second factor, last login."""
    from pipelines.store.accounts import get_account
    from pipelines.store.users import list_users

    engine = open_account_store(store)
    get_account(engine, account)
    found = list_users(engine, account)
    if as_json:
        print_json([_as_dict(user) for user in found])
        return
    table = Table("login", "name", "role", "active", "2FA", "last login", title=f"Users of {account}")
    for user in found:
        table.add_row(user.login, f"{user.first_name} {user.last_name}".strip(),
                      user.role + (" (superadmin)" if user.superadmin else ""), "yes" if user.active else "no",
                      user.second_factor or "none",
                      user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "never")
    out.print(table)


def _change(store: str | None, login: str, action: str, change, done: str, detail: str | None = None) -> None:
    """Apply `change(engine, user_id)` to the user of `login`, audit it, say it in one line."""
    from pipelines.store import people

    engine = open_account_store(store)
    user = people.person_of_login(engine, login)
    changed = change(engine, user.id)
    people.record(engine, action, account_id=changed.account_id, actor=_actor(), target=changed.login,
                  detail=detail)
    console.print(f"{escape(changed.login)}: {done}", highlight=False, soft_wrap=True)


@group.command("deactivate")
def deactivate(login: str = typer.Argument(..., help="The user's login."), store: str = store_option()) -> None:
    """Deactivate a login (USER-4): the user's sessions end at once; an account keeps one active admin."""
    from pipelines.store.people import set_active

    _change(store, login, "user.deactivate", lambda engine, user_id: set_active(engine, user_id, False),
            "deactivated (their sessions are ended)")


@group.command("activate")
def activate(login: str = typer.Argument(..., help="The user's login."), store: str = store_option()) -> None:
    """Activate a login again (USER-4)."""
    from pipelines.store.people import set_active

    _change(store, login, "user.activate", lambda engine, user_id: set_active(engine, user_id, True), "active")


@group.command("role")
def role(login: str = typer.Argument(..., help="The user's login."),
         new_role: str = typer.Argument(..., metavar="ROLE", help="admin or user."),
         store: str = store_option()) -> None:
    """Make a user an administrator or a user (USER-4); an account keeps one active admin."""
    from pipelines.store.people import set_role

    _change(store, login, "user.role", lambda engine, user_id: set_role(engine, user_id, new_role), f"role {new_role}",
            detail=f"role={new_role}")


@group.command("reset-2fa")
def reset_2fa(login: str = typer.Argument(..., help="The user's login."), store: str = store_option()) -> None:
    """Reset a user's second factor (USER-2): method, recovery codes and trusted devices cleared, their sessions
    ended; they enrol again at their next login."""
    from pipelines.store.people import reset_second_factor

    _change(store, login, "user.second_factor_reset", lambda engine, user_id: reset_second_factor(engine, user_id),
            "second factor reset, their sessions ended (they enrol again at their next login)")


@group.command("password")
def password(
    login: str = typer.Argument(..., help="The user's login."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN),
    store: str = store_option(),
) -> None:
    """Set a user's password (USER-1 policy), read from stdin; it also clears a lockout and ends their sessions."""
    from pipelines.store.users import UserError, get_user, set_password

    if not password_stdin:
        raise UserError("password: give it on stdin with --password-stdin, never on the command line [USER-1]")
    new = _stdin_password()

    def change(engine, user_id):
        set_password(engine, user_id, new)
        return get_user(engine, user_id)

    _change(store, login, "user.password", change, "password set, their sessions ended")
