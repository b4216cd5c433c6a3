"""Tables and queries, nothing else."""

from __future__ import annotations

from lnbits.db import Database

db = Database("ext_feepilot")
