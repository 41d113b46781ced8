"""The account store (ACC-1): what must be true across campaigns, transactional, in SQLAlchemy Core.

SQLite (WAL) in the bucket by default, PostgreSQL in production, chosen by one URL (`SMSFLOW_DB`); the same code
and the same Alembic migrations run on both. The DuckDB warehouse keeps facts and reports; this store is the
source of truth for accounts, blacklists and opt-outs, credits, saved lists and campaigns.
"""

from pipelines.store.accounts import (
    DEFAULT_ACCOUNT, AccountError, AccountSettings, create_account, get_account, list_accounts, set_account,
)
from pipelines.store.engine import StoreError, dispose_all, open_store, store_url

__all__ = ["DEFAULT_ACCOUNT", "AccountError", "AccountSettings", "StoreError", "create_account", "dispose_all",
           "get_account", "list_accounts", "open_store", "set_account", "store_url"]
