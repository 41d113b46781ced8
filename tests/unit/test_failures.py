"""Failures told to a person: a verdict, a message without secrets, an exit code (never a traceback)."""

from __future__ import annotations

import errno

from pipelines.dispatch import DispatchError, WindowClosed
from pipelines.failures import explain, redact


def test_send6_failures_redact_url_and_setting_passwords():
    text = "cannot bind smpp://smsflow:s3cr3t@host:2775 and http://u:p4ss@h/x; password='hunter2', password=abc&x=1"
    cleaned = redact(text)
    for secret in ("s3cr3t", "p4ss", "hunter2", "abc&"):
        assert secret not in cleaned
    assert "smpp://smsflow:***@host:2775" in cleaned


def test_house_failures_disk_errors_name_the_path_and_the_reason():
    full = explain(OSError(errno.ENOSPC, "No space left on device", "/bucket/plan/recipients.parquet"))
    assert (full.verdict, full.exit_code) == ("Failed", 1)
    assert full.message == "/bucket/plan/recipients.parquet: the disk is full"
    assert explain(OSError(errno.EROFS, "Read-only file system", "/ro")).message == "/ro: the file system is read-only"


def test_house_failures_exit_codes_follow_the_kind_of_failure():
    from datetime import datetime, timezone

    assert explain(ValueError("bad spec [CAMP-1]")).exit_code == 2
    assert explain(DispatchError("cannot bind")).exit_code == 3
    assert explain(WindowClosed(datetime(2026, 12, 1, 8, tzinfo=timezone.utc))).exit_code == 4
    assert explain(KeyboardInterrupt()).exit_code == 130
    unexpected = explain(RuntimeError("boom"))
    assert (unexpected.exit_code, unexpected.message) == (1, "RuntimeError: boom")


def test_house_failures_huge_messages_are_cut():
    assert len(explain(ValueError("x" * 100_000)).message) < 2_100


def test_house_failures_validation_errors_are_field_and_message_without_links():
    from pydantic import BaseModel, Field, ValidationError

    class Settings(BaseModel):
        window: int = Field(ge=1)

    try:
        Settings(window=0)
    except ValidationError as error:
        failure = explain(error)
    assert failure.exit_code == 2
    assert failure.message == "Settings: window: Input should be greater than or equal to 1"


def test_failures_our_own_file_errors_keep_their_message():
    failure = explain(FileNotFoundError("no warehouse at bucket/warehouse.duckdb: load a campaign first"))
    assert (failure.verdict, failure.message) == ("Refused", "no warehouse at bucket/warehouse.duckdb: load a campaign first")


def test_issue10_a_missing_path_or_the_wrong_kind_is_a_refusal_naming_it():
    missing = explain(FileNotFoundError(errno.ENOENT, "No such file or directory", "bucket/campaigns/x/plan"))
    assert (missing.verdict, missing.message, missing.exit_code) == (
        "Refused", "bucket/campaigns/x/plan: no such file or folder", 2)
    assert explain(IsADirectoryError(errno.EISDIR, "Is a directory", "lists")).exit_code == 2
    assert explain(PermissionError(errno.EACCES, "Permission denied", "/root/x")).verdict == "Failed"
