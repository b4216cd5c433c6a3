"""crud.Transaction.execute_many sends many rows in slices (SQLAlchemy binds an executemany's
parameters on LNbits' event loop), and the slices still land in the one transaction: all of
them, in order, or none. On LNbits' own SQLite Database, in a data folder of the test's."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from devtools.extension_modules import load

_packages = itertools.count()


@pytest.fixture()
def crud(tmp_path, monkeypatch):
    from lnbits.settings import settings

    monkeypatch.setattr(settings, "lnbits_data_folder", str(tmp_path))
    module = load(f"feepilot_slices_{next(_packages)}", "crud")  # its Database in tmp_path
    asyncio.run(module.db.execute("CREATE TABLE feepilot.sliced (n INTEGER PRIMARY KEY, label TEXT NOT NULL)"))
    return module


INSERT = "INSERT INTO feepilot.sliced (n, label) VALUES (:n, :label)"


def rows(count: int, first: int = 0) -> list[dict]:
    return [{"n": n, "label": f"row {n}"} for n in range(first, first + count)]


def stored(crud) -> list[tuple[int, str]]:
    found = asyncio.run(crud.db.fetchall("SELECT n, label FROM feepilot.sliced ORDER BY n"))
    return [(int(r["n"]), r["label"]) for r in found]


def test_many_rows_go_in_slices_and_all_land(crud):
    sent: list[int] = []

    class Counted:  # the driver connection, counting the rows of each statement it is sent
        def __init__(self, real):
            self.real = real

        async def execute(self, statement, params=None):
            sent.append(len(params) if isinstance(params, list) else 1)
            return await self.real.execute(statement, params)

        def __getattr__(self, name):
            return getattr(self.real, name)

    async def write(count: int) -> None:
        async with crud.transaction() as tx:
            tx.conn.conn = Counted(tx.conn.conn)
            await tx.execute_many(INSERT, rows(count))

    count = 2 * crud.EXECUTE_MANY_ROWS + 37
    asyncio.run(write(count))
    assert sent == [crud.EXECUTE_MANY_ROWS, crud.EXECUTE_MANY_ROWS, 37]
    assert stored(crud) == [(n, f"row {n}") for n in range(count)]


def test_a_failing_last_slice_leaves_none_of_the_earlier_ones(crud):
    asyncio.run(crud.db.execute(INSERT, {"n": 10_000, "label": "there before"}))

    async def write() -> None:
        async with crud.transaction() as tx:
            # two whole slices, then one that collides with the stored row
            await tx.execute_many(INSERT, rows(2 * crud.EXECUTE_MANY_ROWS) + rows(1, first=10_000))

    with pytest.raises(Exception, match="UNIQUE"):
        asyncio.run(write())
    assert stored(crud) == [(10_000, "there before")]
