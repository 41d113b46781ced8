"""USER-1..3 in the store: the password policy, lockout with backoff, TOTP, one-time codes, recovery codes and
trusted devices, with the clock given (`at=`) instead of waited for."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
from sqlalchemy import insert, select, update

from pipelines.store.schema import audit_log, user_codes, users
from pipelines.store.second_factor import (
    check_code, check_totp, confirm_channel, confirm_totp, device_trusted, forget_devices, issue_code, list_devices,
    new_recovery_codes, recovery_codes_left, start_totp, trust_device, use_recovery_code)
from pipelines.store.users import (
    UserError, attempt_login, create_user, lock_length, note_success, offer_temporary_password, password_problems,
    set_password, temporary_password, update_user_password)

PASSWORD = "Motdepasse-2026!"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def ann(store):
    return create_user(store, "default", "ann@example.com", PASSWORD)


@pytest.mark.parametrize(("password", "missing"), [
    ("Court-1a", "au moins 11 caractères"), ("minuscules-2026", "une majuscule"), ("MAJUSCULES-2026", "une minuscule"),
    ("Motdepasse-sans", "un chiffre"), ("Motdepasse2026", "un caractère spécial")])
def test_user1_each_missing_class_is_named(password, missing):
    assert password_problems(password) == [missing]
    assert password_problems(PASSWORD) == []


def test_user1_a_weak_password_is_refused_at_creation(store):
    with pytest.raises(UserError, match="USER-1"):
        create_user(store, "default", "bob@example.com", "motdepasse")


def test_user1_passwords_are_hashed_with_argon2id_at_rfc9106s_low_memory_cost_outside_the_tests(monkeypatch):
    """Production hashes cost 64 MiB and 3 passes; the suite's cheapest profile (conftest) is Argon2id too, and a
    hash of either kind checks under the other (each hash carries its parameters)."""
    from pipelines.store.users import hash_password, verify_password

    cheap = hash_password("Motdepasse-2026!")
    monkeypatch.delenv("SMSFLOW_PASSWORD_HASH")
    stored = hash_password("Motdepasse-2026!")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and cheap.startswith("$argon2id$")
    assert verify_password(cheap, "Motdepasse-2026!") and not verify_password(stored, "Motdepasse-2026?")
    monkeypatch.setenv("SMSFLOW_PASSWORD_HASH", "cheapest")
    assert verify_password(stored, "Motdepasse-2026!")


def test_user3_a_temporary_password_meets_user1():
    assert all(password_problems(temporary_password()) == [] for _ in range(50))


def test_user1_five_failures_lock_for_a_minute_then_the_lock_doubles_up_to_an_hour():
    assert [lock_length(n) for n in (1, 4)] == [timedelta(0)] * 2
    assert [lock_length(n).total_seconds() for n in (5, 6, 7, 10, 11, 30)] == [60, 120, 240, 1920, 3600, 3600]


def test_user1_lockout_after_five_wrong_passwords_and_backoff(store, ann):
    for minute in range(4):
        assert attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=minute)).outcome == "wrong"
    fifth = attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=5))
    assert (fifth.outcome, fifth.wait) == ("wrong", timedelta(minutes=1))
    locked = attempt_login(store, ann.login, PASSWORD, at=T0 + timedelta(seconds=35))
    assert (locked.outcome, locked.wait) == ("locked", timedelta(seconds=30))  # the right password is not checked
    sixth = attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=66))
    assert (sixth.outcome, sixth.wait) == ("wrong", timedelta(minutes=2))  # doubled
    assert attempt_login(store, ann.login, PASSWORD, at=T0 + timedelta(seconds=66 + 119)).outcome == "locked"
    assert attempt_login(store, ann.login, PASSWORD, at=T0 + timedelta(seconds=66 + 120)).outcome == "ok"


def test_user1_a_success_resets_the_count(store, ann):
    for second in range(4):
        attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=second))
    note_success(store, ann.id, at=T0 + timedelta(seconds=5))
    assert attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=6)).wait == timedelta(0)
    with store.connect() as connection:
        assert connection.execute(select(users.c.failed_logins).where(users.c.id == ann.id)).scalar_one() == 1


def test_user1_an_unknown_login_is_locked_like_a_known_one(store):
    """Failures of an unknown login come from the audit log (its actor written lowered and trimmed, compared
    exactly), so its lock says nothing about whether it exists."""
    with store.begin() as connection:
        connection.execute(insert(audit_log), [dict(action="login_failed", actor="ghost@example.com", user_id=None,
                                                    at=T0 + timedelta(seconds=n)) for n in range(5)])
    locked = attempt_login(store, "ghost@example.com", "x", at=T0 + timedelta(seconds=34))
    assert (locked.outcome, locked.user, locked.wait) == ("locked", None, timedelta(seconds=30))
    assert attempt_login(store, "ghost@example.com", "x", at=T0 + timedelta(seconds=65)).outcome == "wrong"


def test_user1_a_deactivated_user_answers_like_a_wrong_password(store, ann):
    with store.begin() as connection:
        connection.execute(update(users).where(users.c.id == ann.id).values(active=False))
    assert attempt_login(store, ann.login, PASSWORD, at=T0).outcome == "wrong"


def test_user1_changing_a_password_needs_the_current_one(store, ann):
    with pytest.raises(UserError, match="current password"):
        update_user_password(store, ann.id, "Pas-le-bon-2026", "Nouveau-mot-2027")
    update_user_password(store, ann.id, PASSWORD, "Nouveau-mot-2027")
    assert attempt_login(store, ann.login, "Nouveau-mot-2027", at=T0).outcome == "ok"


def test_user2_totp_confirmed_by_a_first_code_then_each_step_used_once(store, ann):
    secret = start_totp(store, ann.id)
    totp = pyotp.TOTP(secret)
    assert not confirm_totp(store, ann.id, "000000" if totp.at(T0) != "000000" else "111111", at=T0)
    assert confirm_totp(store, ann.id, totp.at(T0), at=T0)
    assert not check_totp(store, ann.id, totp.at(T0), at=T0)  # the confirming code's step is used
    assert check_totp(store, ann.id, totp.at(T0 + timedelta(seconds=30)), at=T0 + timedelta(seconds=30))
    assert not check_totp(store, ann.id, totp.at(T0 + timedelta(seconds=30)), at=T0 + timedelta(seconds=40))
    assert not check_totp(store, ann.id, totp.at(T0), at=T0 + timedelta(seconds=60))  # an older step, though ±1
    assert check_totp(store, ann.id, totp.at(T0 + timedelta(seconds=90)), at=T0 + timedelta(seconds=60))  # +1 step
    assert not check_totp(store, ann.id, totp.at(T0 + timedelta(seconds=300)), at=T0 + timedelta(seconds=200))


def test_user2_an_email_code_works_once_within_five_minutes(store, ann):
    code = issue_code(store, ann.id, "login", "email", at=T0)
    assert not check_code(store, ann.id, "login", code, channel="sms", at=T0)  # another channel's code
    assert check_code(store, ann.id, "login", code, channel="email", at=T0 + timedelta(minutes=4))
    assert not check_code(store, ann.id, "login", code, channel="email", at=T0 + timedelta(minutes=4))
    late = issue_code(store, ann.id, "login", "email", at=T0)
    assert not check_code(store, ann.id, "login", late, channel="email", at=T0 + timedelta(minutes=5))


def test_user2_a_new_code_voids_the_old_one_and_five_attempts_void_a_code(store, ann):
    old = issue_code(store, ann.id, "login", "sms", at=T0)
    new = issue_code(store, ann.id, "login", "sms", at=T0)
    if old != new:
        assert not check_code(store, ann.id, "login", old, at=T0)
    wrong = f"{(int(new) + 1) % 10 ** 6:06d}"
    for _ in range(5 if old == new else 4):
        assert not check_code(store, ann.id, "login", wrong, at=T0)
    assert not check_code(store, ann.id, "login", new, at=T0)  # sixth attempt: refused even when right
    with store.connect() as connection:
        stored = connection.execute(select(user_codes.c.code_hash).where(user_codes.c.user_id == ann.id)).scalars()
        assert all(new not in value for value in stored)  # hashed


def test_user2_sms_or_email_confirmed_by_a_first_code(store, ann):
    code = issue_code(store, ann.id, "login", "email", at=T0)
    assert not confirm_channel(store, ann.id, "email", "999999" if code != "999999" else "000000", at=T0)
    assert confirm_channel(store, ann.id, "email", code, at=T0)
    with store.connect() as connection:
        assert connection.execute(select(users.c.second_factor).where(users.c.id == ann.id)).scalar_one() == "email"


def test_user2_recovery_codes_work_once_and_a_new_set_voids_the_old(store, ann):
    codes = new_recovery_codes(store, ann.id)
    assert len(set(codes)) == 10 and recovery_codes_left(store, ann.id) == 10
    assert use_recovery_code(store, ann.id, codes[3].upper().replace("-", " "))
    assert not use_recovery_code(store, ann.id, codes[3])
    assert recovery_codes_left(store, ann.id) == 9
    fresh = new_recovery_codes(store, ann.id)
    assert not use_recovery_code(store, ann.id, codes[4])
    assert use_recovery_code(store, ann.id, fresh[0])


def test_user2_a_trusted_device_lasts_seven_days_for_its_user_only(store, ann):
    bob = create_user(store, "default", "bob@example.com", PASSWORD)
    token = trust_device(store, ann.id, "Firefox", at=T0)
    assert device_trusted(store, ann.id, token, at=T0 + timedelta(days=6, hours=23))
    assert not device_trusted(store, ann.id, token, at=T0 + timedelta(days=7))
    assert not device_trusted(store, bob.id, token, at=T0)
    assert not device_trusted(store, ann.id, "forged", at=T0)
    assert [device.user_agent for device in list_devices(store, ann.id, at=T0)] == ["Firefox"]
    assert forget_devices(store, ann.id) == 1 and not device_trusted(store, ann.id, token, at=T0)


def slow_hashes(monkeypatch, seconds: float = 0.05) -> list[str]:
    """Password checks as slow as production's (~60 ms) so that parallel attempts overlap; the hashes checked."""
    import pipelines.store.users as store_users

    checked, real = [], store_users.verify_password

    def verify(password_hash, password):
        time.sleep(seconds)
        checked.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(store_users, "verify_password", verify)
    return checked


def failures_of(store, user_id: int) -> int:
    with store.connect() as connection:
        return connection.execute(select(users.c.failed_logins).where(users.c.id == user_id)).scalar_one()


def test_user1_parallel_wrong_passwords_cannot_slip_past_the_lock(store, ann, monkeypatch):
    """The attempt is counted before its password is checked: after four failures, of 20 attempts at once only
    the fifth is checked, the others find the lock."""
    for second in range(4):
        attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=second))
    slow_hashes(monkeypatch)
    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(lambda _: attempt_login(store, ann.login, "Pas-le-bon-2026").outcome, range(20)))
    assert outcomes.count("wrong") == 1 and outcomes.count("locked") == 19
    assert failures_of(store, ann.id) == 5


def test_user1_the_right_password_during_the_count_is_no_failure(store, ann):
    for second in range(4):
        attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=second))
    assert attempt_login(store, ann.login, PASSWORD, at=T0 + timedelta(seconds=5)).outcome == "ok"
    assert failures_of(store, ann.id) == 4  # not reset (the second factor may fail), not counted either
    assert attempt_login(store, ann.login, PASSWORD, at=T0 + timedelta(seconds=6)).outcome == "ok"  # no lock


def test_user2_parallel_wrong_codes_are_checked_five_times_at_most(store, ann, monkeypatch):
    """The try is counted (attempts < 5, in the UPDATE itself) before the code is checked: 20 tries at once on
    PostgreSQL (SQLite runs one write transaction at a time) check it five times at most."""
    import pipelines.store.second_factor as second_factor

    code = issue_code(store, ann.id, "login", "email")
    checked, real = [], second_factor._matches

    def slow_match(typed, stored):
        time.sleep(0.05)
        checked.append(typed)
        return real(typed, stored)

    monkeypatch.setattr(second_factor, "_matches", slow_match)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: check_code(store, ann.id, "login", wrong, channel="email"), range(20)))
    assert not any(answers) and len(checked) <= 5
    with store.connect() as connection:
        assert connection.execute(select(user_codes.c.attempts).where(user_codes.c.user_id == ann.id)).scalar_one() == 5
    assert not check_code(store, ann.id, "login", code, channel="email")  # the limit holds for the right code


def test_user2_codes_in_other_digits_are_refused_not_an_error(store, ann):
    """"١٢٣٤٥٦".isdigit() is True in Python: a code of such digits is a wrong code, never a crash."""
    secret = start_totp(store, ann.id)
    assert confirm_totp(store, ann.id, pyotp.TOTP(secret).at(T0), at=T0)
    arabic = "\u0661\u0662\u0663\u0664\u0665\u0666"
    assert not check_totp(store, ann.id, arabic, at=T0 + timedelta(seconds=30))
    assert not confirm_totp(store, ann.id, arabic, at=T0)
    issue_code(store, ann.id, "login", "email")
    assert not check_code(store, ann.id, "login", arabic, channel="email")
    assert not use_recovery_code(store, ann.id, "\u00b2" * 10)


def test_user1_a_deactivated_login_costs_a_password_check_too(store, ann, monkeypatch):
    with store.begin() as connection:
        connection.execute(update(users).where(users.c.id == ann.id).values(active=False))
    checked = slow_hashes(monkeypatch, 0)
    assert attempt_login(store, ann.login, PASSWORD, at=T0).outcome == "wrong"
    assert len(checked) == 1  # the dummy hash: the answer takes as long as a wrong password's


def test_user1_a_known_logins_failures_older_than_24_hours_no_longer_count(store, ann):
    for second in range(4):
        attempt_login(store, ann.login, "wrong", at=T0 + timedelta(seconds=second))
    later = attempt_login(store, ann.login, "wrong", at=T0 + timedelta(hours=24, seconds=4))
    assert (later.outcome, later.wait) == ("wrong", timedelta(0))  # a fifth failure, but a day later: the first
    assert failures_of(store, ann.id) == 1


def test_user1_a_new_password_or_a_second_factor_reset_ends_every_session(store, ann):
    from pipelines.console.sessions import find_session, open_session
    from pipelines.store.people import reset_second_factor

    key = open_session(store, ann.id, "full", hours=8)
    set_password(store, ann.id, "Nouveau-mot-2027!")  # as an administrator or `smsflow users password` does
    assert find_session(store, key) is None
    key = open_session(store, ann.id, "full", hours=8)
    reset_second_factor(store, ann.id)
    assert find_session(store, key) is None


def test_user3_one_forgotten_password_offer_a_minute_at_most(store, ann):
    assert offer_temporary_password(store, ann.id, at=T0)
    assert offer_temporary_password(store, ann.id, at=T0 + timedelta(seconds=59)) is None
    assert offer_temporary_password(store, ann.id, at=T0 + timedelta(seconds=61))
