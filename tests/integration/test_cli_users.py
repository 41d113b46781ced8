"""USER-1, USER-2, USER-4: `smsflow users` as an operator runs it, on the store of SMSFLOW_DB: add (a generated
temporary password printed once, or one read from stdin), list, deactivate and activate, roles, second-factor
reset, password; refusals in one line with the rule id; every change audited. The store functions under them (and
under the /users and /audit pages) run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import io
import json
import sys

from helpers import smsflow_here
from sqlalchemy import select

from pipelines.store import open_store
from pipelines.store.people import person_of_login
from pipelines.store.schema import audit_log, users
from pipelines.store.second_factor import check_code
from pipelines.store.users import password_problems, verify_password

GOOD = "Motdepasse-2026!"


def run(store_url: str, *args: str, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return smsflow_here("users", *args, env={"SMSFLOW_DB": store_url})


def test_user4_add_list_deactivate_activate_round_trip(store_url):
    assert smsflow_here("account", "create", "acme", env={"SMSFLOW_DB": store_url}).returncode == 0
    added = run(store_url, "add", "Ana@Acme.fr", "--account", "acme", "--role", "admin", "--first-name", "Ana",
                "--last-name", "Roy", "--mobile", "+33612345678")
    assert added.returncode == 0, added.stderr
    temporary, code = added.stdout.split("\n")[:2]
    assert password_problems(temporary) == [] and len(code) == 6  # USER-1, printed once on stdout
    assert added.stdout == f"{temporary}\n{code}\n"
    assert "ana@acme.fr" in added.stderr and temporary not in added.stderr
    engine = open_store(store_url)
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.login == "ana@acme.fr")).one()
    assert verify_password(row.password_hash, temporary) and row.password_temporary
    assert check_code(engine, row.id, "activation", code)  # USER-3: their first login asks for it
    assert run(store_url, "add", "bob@acme.fr", "--account", "acme").returncode == 0
    listed = json.loads(run(store_url, "list", "--account", "acme", "--json").stdout)
    assert [(u["login"], u["role"], u["active"], u["first_name"]) for u in listed] == [
        ("ana@acme.fr", "admin", True, "Ana"), ("bob@acme.fr", "user", True, "")]
    assert "ana@acme.fr" in run(store_url, "list", "--account", "acme").stdout
    off = run(store_url, "deactivate", "BOB@acme.fr")
    assert off.returncode == 0 and "deactivated" in off.stderr
    assert not person_of_login(engine, "bob@acme.fr").active
    assert run(store_url, "activate", "bob@acme.fr").returncode == 0
    assert person_of_login(engine, "bob@acme.fr").active
    with engine.connect() as connection:
        actions = connection.execute(select(audit_log.c.action, audit_log.c.target, audit_log.c.account_id,
                                            audit_log.c.actor).order_by(audit_log.c.id)).all()
    assert [(a.action, a.target, a.account_id) for a in actions] == [
        ("user.add", "ana@acme.fr", "acme"), ("user.add", "bob@acme.fr", "acme"),
        ("user.deactivate", "bob@acme.fr", "acme"), ("user.activate", "bob@acme.fr", "acme")]
    assert all(a.actor.startswith("cli:") for a in actions)


def test_user1_a_password_comes_from_stdin_never_the_command_line(store_url, monkeypatch):
    added = run(store_url, "add", "cli@acme.fr", "--password-stdin", stdin=GOOD + "\n", monkeypatch=monkeypatch)
    assert added.returncode == 0, added.stderr
    assert added.stdout == ""  # nothing to show: the operator chose it
    engine = open_store(store_url)
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.login == "cli@acme.fr")).one()
    assert verify_password(row.password_hash, GOOD) and not row.password_temporary
    weak = run(store_url, "password", "cli@acme.fr", "--password-stdin", stdin="short\n", monkeypatch=monkeypatch)
    assert weak.returncode == 2 and "[USER-1]" in weak.stderr and "Refused" in weak.stderr
    nothing = run(store_url, "password", "cli@acme.fr")
    assert nothing.returncode == 2 and "--password-stdin" in nothing.stderr
    changed = run(store_url, "password", "cli@acme.fr", "--password-stdin", stdin="Autre-mot2passe\n",
                  monkeypatch=monkeypatch)
    assert changed.returncode == 0, changed.stderr
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.login == "cli@acme.fr")).one()
    assert verify_password(row.password_hash, "Autre-mot2passe")
    assert run(store_url, "add", "x@acme.fr", "--password", GOOD).returncode == 2  # no such option


def test_user4_refusals_are_one_line_with_the_rule(store_url):
    assert run(store_url, "add", "boss@acme.fr", "--role", "admin").returncode == 0
    last = run(store_url, "deactivate", "boss@acme.fr")
    assert last.returncode == 2 and "last active administrator" in last.stderr and "[USER-4]" in last.stderr
    demoted = run(store_url, "role", "boss@acme.fr", "user")
    assert demoted.returncode == 2 and "[USER-4]" in demoted.stderr
    twice = run(store_url, "add", "boss@acme.fr")
    assert twice.returncode == 2 and "already taken" in twice.stderr
    unknown = run(store_url, "deactivate", "nobody@acme.fr")
    assert unknown.returncode == 2 and "no user 'nobody@acme.fr'" in unknown.stderr
    role = run(store_url, "add", "x@acme.fr", "--role", "owner")
    assert role.returncode == 2 and "role: 'owner'" in role.stderr
    nowhere = run(store_url, "add", "x@acme.fr", "--account", "ghost")
    assert nowhere.returncode == 2 and "no account 'ghost'" in nowhere.stderr
    assert all(len(answer.stderr.strip().splitlines()) == 1 for answer in (last, demoted, twice, unknown, role))


def test_user2_reset_2fa_clears_the_second_factor_and_role_changes(store_url):
    from sqlalchemy import update

    assert run(store_url, "add", "boss@acme.fr", "--role", "admin").returncode == 0
    assert run(store_url, "add", "ana@acme.fr").returncode == 0
    engine = open_store(store_url)
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.login == "ana@acme.fr").values(
            second_factor="totp", totp_secret="JBSWY3DPEHPK3PXP"))
    reset = run(store_url, "reset-2fa", "ana@acme.fr")
    assert reset.returncode == 0, reset.stderr
    assert person_of_login(engine, "ana@acme.fr").second_factor is None
    assert run(store_url, "role", "ana@acme.fr", "admin").returncode == 0
    assert run(store_url, "role", "boss@acme.fr", "user").returncode == 0  # ana is an admin now
    assert (person_of_login(engine, "ana@acme.fr").role, person_of_login(engine, "boss@acme.fr").role) == (
        "admin", "user")


def test_user4_the_audit_query_pages_and_filters_alike_on_both_stores(store):
    """Under the /audit page: an account's lines newest first, by action, person and a search where % and _ are
    plain characters; the platform's lines only when asked (superadmins)."""
    from datetime import timedelta

    from sqlalchemy import insert

    from pipelines.store.engine import now
    from pipelines.store.people import audit_choices, audit_entries

    start = now() - timedelta(hours=1)
    with store.begin() as connection:
        connection.execute(insert(audit_log), [
            dict(account_id=account, actor=actor, action=action, target=target, ip=None, at=start + timedelta(
                seconds=index)) for index, (account, actor, action, target) in enumerate([
                    ("acme", "ana@acme.fr", "campaign.create", "Soldes 50%"),
                    ("acme", "bob@acme.fr", "campaign.create", "Soldes_hiver"),
                    ("acme", "ana@acme.fr", "list.import", "clients.csv"),
                    ("other", "boss@other.fr", "campaign.create", "Soldes autres"),
                    (None, "root@smsflow.fr", "blacklist.global", "+33600000000")])])
    newest_first = audit_entries(store, "acme", per_page=2)
    assert [entry.target for entry in newest_first.entries] == ["clients.csv", "Soldes_hiver"]
    assert (newest_first.total, newest_first.pages) == (3, 2)
    assert [entry.target for entry in audit_entries(store, "acme", per_page=2, page=2).entries] == ["Soldes 50%"]
    assert audit_entries(store, "acme", action="campaign.create", actor="ana@acme.fr").total == 1
    assert [entry.target for entry in audit_entries(store, "acme", search="50%").entries] == ["Soldes 50%"]
    assert [entry.target for entry in audit_entries(store, "acme", search="S_H").entries] == ["Soldes_hiver"]
    assert audit_entries(store, "acme", search="soldes").total == 2
    assert audit_entries(store, "acme", platform=True).total == 4
    assert audit_choices(store, "acme") == (["campaign.create", "list.import"], ["ana@acme.fr", "bob@acme.fr"])


def test_user2_user1_reset_2fa_and_password_from_the_cli_end_the_users_sessions(store_url, monkeypatch):
    """An operator's second-factor reset or new password ends every session of the user at once (one opened with
    the old password or before the reset, a stolen one, say, does not outlive it)."""
    from pipelines.console.sessions import find_session, open_session

    assert run(store_url, "add", "ana@acme.fr", "--password-stdin", stdin=GOOD + "\n",
               monkeypatch=monkeypatch).returncode == 0
    engine = open_store(store_url)
    ana = person_of_login(engine, "ana@acme.fr")
    key = open_session(engine, ana.id, "full", hours=8)
    reset = run(store_url, "reset-2fa", "ana@acme.fr")
    assert reset.returncode == 0 and "sessions ended" in reset.stderr
    assert find_session(engine, key) is None
    key = open_session(engine, ana.id, "full", hours=8)
    changed = run(store_url, "password", "ana@acme.fr", "--password-stdin", stdin="Autre-mot2passe\n",
                  monkeypatch=monkeypatch)
    assert changed.returncode == 0 and "sessions ended" in changed.stderr
    assert find_session(engine, key) is None
