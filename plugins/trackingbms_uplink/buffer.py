"""The edge's on-disk buffer: readings wait in a SQLite file until the broker has acknowledged them."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

_SCHEMA = "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)"


class DiskBuffer:
    """A first-in first-out queue of JSON texts that survives restarts and power cuts.

    Readings go in as soon as they are polled and leave only once the broker acknowledged the
    message carrying them (QoS 1), so a broker or network outage, or a restart of the edge, loses
    nothing. When the buffer holds ``limit`` items, the oldest go to make room (counted in
    ``dropped``): an edge cut off for months must not fill its disk.
    """

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.dropped = 0
        self._db: aiosqlite.Connection | None = None
        self._count = 0

    async def open(self) -> None:
        """Open (or create) the file; items left by a previous run are kept, in order."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a power cut keeps every commit but the last
        await self._db.execute(_SCHEMA)
        await self._db.commit()
        async with self._db.execute("SELECT COUNT(*) FROM pending") as cur:
            row = await cur.fetchone()
        self._count = int(row[0]) if row else 0

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the buffer is not open")
        return self._db

    def __len__(self) -> int:
        return self._count

    async def append(self, payloads: list[str]) -> None:
        """Add items at the end, committed before returning; the oldest go when over the limit.
        On an error (a full disk) nothing of the call is kept: the caller still has the items."""
        if not payloads:
            return
        excess = max(0, self._count + len(payloads) - self.limit)
        try:
            await self.db.executemany("INSERT INTO pending (payload) VALUES (?)", [(p,) for p in payloads])
            if excess:
                oldest = "SELECT seq FROM pending ORDER BY seq LIMIT ?"
                await self.db.execute(f"DELETE FROM pending WHERE seq IN ({oldest})", (excess,))
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            raise
        self._count += len(payloads) - excess
        self.dropped += excess

    async def oldest(self, count: int) -> list[tuple[int, str]]:
        """Up to ``count`` of the oldest items with their sequence numbers, oldest first."""
        async with self.db.execute("SELECT seq, payload FROM pending ORDER BY seq LIMIT ?", (count,)) as cur:
            return [(int(seq), str(payload)) for seq, payload in await cur.fetchall()]

    async def remove_through(self, seq: int) -> None:
        """Forget every item up to and including ``seq`` (they were delivered)."""
        cur = await self.db.execute("DELETE FROM pending WHERE seq <= ?", (seq,))
        self._count -= max(cur.rowcount, 0)
        await self.db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
