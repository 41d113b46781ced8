"""The account store's tables (ACC-1, BL-1..3, SEND-5/8, LIST-4, CAMP-3, PLUS-7/8), in SQLAlchemy Core.

The store holds what must be true across campaigns; the DuckDB warehouse keeps the facts and reports. The same
tables run on SQLite (the embedded default) and PostgreSQL (production): only portable types are used. Alembic
migrations (`pipelines/store/migrations`) create them; a test keeps this file and the migrations equal.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
    UniqueConstraint, false,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s", "pk": "pk_%(table_name)s",
})
GLOBAL = "*"  # the account_id of the platform's global blacklist rows (BL-1): one for every account

# ACC-1: what an account holds across its campaigns; an administrator sets it.
accounts = Table(
    "accounts", metadata,
    Column("id", String(64), primary_key=True),
    Column("allowed_countries", JSON, nullable=False),  # ISO regions, NUM-2
    Column("credit_limited", Boolean, nullable=False, default=False),  # False: no limit until an admin sets one
    Column("send_window", String(32), nullable=False, default="seed"),  # SEND-2 policy name
    Column("max_parts", Integer, nullable=False),  # ENC-5
    Column("allowed_senders", JSON, nullable=False),  # MSG-1; empty: any sender
    Column("frequency_cap", Integer),  # PLUS-7: marketing messages per number per window; None: no cap
    Column("frequency_hours", Integer, nullable=False, default=24),
    Column("retention_months", Integer),  # PLUS-8; None: kept until purged by hand
    Column("client", String(64)),  # the account's client, whose blacklist is BL-1's third
    Column("tracking_domain", String(10)),  # URL-1: its short links' domain (None: the platform's)
    Column("require_second_factor", Boolean, nullable=False, default=False, server_default=false()),  # USER-2
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# BL-1: own (account), global (account_id = GLOBAL) and client blacklists; a number is E.164, or a keyed hash
# ("hmac:...") once erased (PLUS-8), so that its opt-out still holds.
blacklist = Table(
    "blacklist", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # own | global | client
    Column("account_id", String(64), nullable=False),
    Column("number", String(80), nullable=False),
    Column("source", String(32), nullable=False),  # stop | import | cli | ...
    Column("campaign_id", String(128)),
    Column("added_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "account_id", "number"),
)

# BL-2, PLUS-6: every change to an opt-out, kept (number, campaign, reply text, time).
opt_out_audit = Table(
    "opt_out_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("number", String(80), nullable=False),
    Column("action", String(16), nullable=False),  # stop | start | add | remove | import | erase
    Column("campaign_id", String(128)),
    Column("text", Text),  # the reply as received
    Column("by", String(128)),
    Column("at", DateTime(timezone=True), nullable=False),
    Index(None, "account_id", "number"),
)

# SEND-5, SEND-8: the credit ledger. Balance = top-ups - reservations + releases (settle: the release that ends a
# campaign's reservation; its row marks the campaign settled).
credit_ledger = Table(
    "credit_ledger", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("campaign_id", String(128)),
    Column("kind", String(16), nullable=False),  # topup | reserve | settle
    Column("credits", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("run_id", String(256)),  # the Airflow run that reserved: the reconciler asks whether it ended (SEND-8)
    Column("by", String(128)),  # who topped up
    Column("at", DateTime(timezone=True), nullable=False),
    Index(None, "account_id", "campaign_id"),
)

# LIST-4: saved lists, versioned. A row belongs to the versions [added_in, removed_in); adding or removing a
# recipient makes a new version without copying the list.
saved_lists = Table(
    "saved_lists", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("columns", JSON, nullable=False),  # the list's columns, in order
    Column("mobile_column", String(128), nullable=False),
    Column("version", Integer, nullable=False),  # the latest version
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("account_id", "name"),
)
saved_list_versions = Table(
    "saved_list_versions", metadata,
    Column("list_id", Integer, ForeignKey("saved_lists.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("columns", JSON, nullable=False),  # this version's columns, in order (an import may change them)
    Column("mobile_column", String(128), nullable=False),
    Column("change", Text, nullable=False),  # what made it: "import clients.csv", "add +336...", ...
    Column("at", DateTime(timezone=True), nullable=False),
)
saved_list_rows = Table(
    "saved_list_rows", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("saved_lists.id", ondelete="CASCADE"), nullable=False),
    Column("line", Integer, nullable=False),  # LIST-6 order in the list
    Column("number", String(80), nullable=False),  # as written in the list
    Column("int_mobile", String(80)),  # E.164 when valid: search and erase find it
    Column("fields", JSON, nullable=False),  # the other columns (LIST-3)
    Column("added_in", Integer, nullable=False),
    Column("removed_in", Integer),
    Index(None, "list_id", "added_in"),
    Index(None, "int_mobile"),
)

# CAMP-3, CAMP-4: campaigns and their lifecycle (draft → scheduled → running → finished, or cancelled).
campaigns = Table(
    "campaigns", metadata,
    Column("id", String(128), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("spec", Text, nullable=False),  # the spec as YAML
    Column("send_at", DateTime(timezone=True)),
    Column("run_id", String(256)),  # the Airflow run, when one runs it
    Column("list_versions", JSON),  # saved list name -> version used (LIST-4)
    Column("credits_reserved", Integer, nullable=False, default=0),
    Column("settled_at", DateTime(timezone=True)),  # SEND-8: when its reservation was settled
    Column("cancel_requested_at", DateTime(timezone=True)),
    Column("figures", JSON),  # sent, delivered, ... once finished
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "account_id", "status", "updated_at"),
)
campaign_events = Table(
    "campaign_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index(None, "campaign_id"),
)

# PLUS-7: who got a message when, across campaigns, for the frequency cap.
sends = Table(
    "sends", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("number", String(80), nullable=False),
    Column("campaign_id", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Index(None, "account_id", "number", "sent_at"),
    Index(None, "campaign_id"),
)

# PLUS-8: every erase and purge, audited (the number only as its keyed hash).
erasures = Table(
    "erasures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64)),
    Column("number_hash", String(80)),  # None for a purge by age
    Column("detail", Text, nullable=False),
    Column("by", String(128)),
    Column("at", DateTime(timezone=True), nullable=False),
)

# The store's own settings: the key of the erase hash (PLUS-8), made once per store.
store_settings = Table(
    "store_settings", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# DROP-1 (issue 13): a CRM export dropped under an account's prefix of the bucket starts a campaign from a template
# (a spec file in the bucket, or a saved draft), planned for approval (`approve`) or sent under `approval: auto`.
drop_rules = Table(
    "drop_rules", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("prefix", String(512), nullable=False),  # under the bucket, ending in "/": incoming/vip/
    Column("template_kind", String(8), nullable=False),  # spec | campaign
    Column("template", String(1024), nullable=False),  # a spec's path in the bucket, or a draft's campaign id
    Column("mode", String(8), nullable=False),  # approve | auto
    Column("max_invalid_share", Float),  # None: the template's contracts.max_invalid_share
    Column("max_bytes", Integer),  # None: pipelines.drops' default
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("prefix"),
)
# DROP-2: every accepted drop by its content's hash (unique: the same bytes under any name start one campaign).
drops = Table(
    "drops", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_hash", String(64), nullable=False),  # SHA-256, hex
    Column("rule_id", Integer, nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("source", String(1024), nullable=False),  # where it was dropped, relative to the bucket
    Column("target", String(1024), nullable=False),  # processed/<date>/<name>, relative to the bucket
    Column("run_id", String(256), nullable=False),  # the sms_campaign run it starts
    Column("conf", JSON, nullable=False),  # that run's conf
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("content_hash"),
    Index(None, "source"),
)

# PLUS-1, SEND-7 (issue 13): the send ledger when it lives in the store (SMSFLOW_LEDGER=store), so that a batch
# killed on one worker is resumed by another: the same records as the ledger files, one row each, in insert order.
send_ledger = Table(
    "send_ledger", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("campaign", String(256), nullable=False),  # the campaign folder's name (tests: <campaign>/tests)
    Column("writer", String(160), nullable=False),  # one bind of one run: its records' `open` row says its boot
    Column("key", String(256)),  # the part key (PLUS-1); None on `open` rows
    Column("event", String(16), nullable=False),  # open | intent | sent | accepted | refused | throttled | held | resend
    Column("status", Integer),
    Column("message_id", String(128)),
    Column("evidence", String(64)),
    Column("ts", Float),
    Column("boot", String(64)),  # on `open` rows: the server's start (PostgreSQL) or the host's boot (SQLite)
    Index(None, "campaign", "id"),
)

# USER-1..4 (issue 14): the extranet's people. A user belongs to one account and sees only its data (ACC-3); the
# identifier is the email by default (USER-1). `role`: admin (the account's users, settings, blacklists, credits)
# or user (campaigns, lists, reports); `superadmin`: the platform's (global blacklist, accounts).
users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("login", String(254), nullable=False),  # lower case; the email unless the admin chose another
    Column("email", String(254), nullable=False),
    Column("first_name", String(128), nullable=False, default=""),
    Column("last_name", String(128), nullable=False, default=""),
    Column("mobile", String(32)),  # E.164: where SMS codes go
    Column("role", String(8), nullable=False),  # admin | user
    Column("superadmin", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),  # USER-4: an admin activates or deactivates a login
    Column("password_hash", String(256), nullable=False),  # Argon2id (argon2-cffi)
    Column("password_temporary", Boolean, nullable=False, default=False),  # USER-3: only opens the activation step
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),  # lockout with backoff after repeated failures
    Column("second_factor", String(8)),  # totp | sms | email; None: not enrolled
    Column("totp_secret", String(64)),  # confirmed secret (base32)
    Column("totp_pending", String(64)),  # being enrolled: confirmed by a first code
    Column("totp_last_step", BigInteger),  # the last accepted time step: a code is used once
    Column("sessions_valid_after", DateTime(timezone=True)),  # logout everywhere: older sessions are void
    Column("last_login_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("login"),
    Index(None, "account_id"),
)
# USER-2, USER-3: one-time codes (SMS or email login codes, activation codes), kept only as hashes; used once.
user_codes = Table(
    "user_codes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(16), nullable=False),  # login | activation | recovery | temporary (USER-3)
    Column("channel", String(8)),  # sms | email (login codes); None for recovery codes
    Column("code_hash", String(128), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),  # None: recovery codes last until used or replaced
    Column("used_at", DateTime(timezone=True)),
    Index(None, "user_id", "purpose"),
)
# USER-2: "trust this device for 7 days": a random token in a cookie, kept here as its hash.
trusted_devices = Table(
    "trusted_devices", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("user_agent", String(512)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("token_hash"),
)
# The extranet's sessions, server side: the cookie holds a signed random key, this table its hash. A new key at each
# login step (no session fixation); revoking is deleting (logout, logout everywhere, a deactivated user).
console_sessions = Table(
    "console_sessions", metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's key
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(16), nullable=False),  # password (second factor awaited) | activation | full
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index(None, "user_id"),
)
# Every action in the extranet: who, when, what, from where (issue 14); an admin reads their account's.
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64)),  # None: the platform's (a superadmin's global actions, unknown logins)
    Column("user_id", Integer),
    Column("actor", String(254)),  # the login, as typed for a failed attempt
    Column("action", String(64), nullable=False),  # login | login_failed | logout | campaign.create | ...
    Column("target", String(512)),
    Column("detail", Text),
    Column("ip", String(64)),
    Column("at", DateTime(timezone=True), nullable=False),
    Index(None, "account_id", "at"),
    Index(None, "action", "actor", "at"),  # an unknown login's lockout counts its recent failures (USER-1)
)
