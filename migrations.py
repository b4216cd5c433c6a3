"""Tables of the extension, in LNbits' database (schema `feepilot`).

Append only: LNbits runs each `mNNN_*` once, in order.
"""

from lnbits.db import Database


async def m001_settings(db: Database) -> None:
    # One row per instance; the settings are a validated JSON document so that
    # adding a setting never needs a migration.
    await db.execute(
        f"""
        CREATE TABLE feepilot.settings (
            id TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            updated_at TIMESTAMP NOT NULL DEFAULT {db.timestamp_now},
            updated_by TEXT
        );
        """
    )
    # Every change of settings: who, when, old -> new. Never pruned.
    await db.execute(
        f"""
        CREATE TABLE feepilot.settings_history (
            id TEXT PRIMARY KEY,
            changed_at TIMESTAMP NOT NULL DEFAULT {db.timestamp_now},
            changed_by TEXT,
            old_data TEXT,
            new_data TEXT NOT NULL
        );
        """
    )
