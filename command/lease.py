"""A named lease row: among several command workers exactly one runs the SLA/escalation timers.

The holder renews ``leases.<name>`` every second; another worker takes it over once
``expires_at`` has passed (the holder died or hangs), so the timers continue elsewhere
within ``ttl`` plus one check interval. The same row works on SQLite and PostgreSQL.
Runs of the guarded work are fenced, not only timed: :meth:`Lease.renew_in` renews the
lease inside the work's own transaction and the work runs only if that succeeded, so two
runs can never overlap even when a holder stalls past its expiry (SQLite serialises the
writes; on PostgreSQL the row lock makes a competing takeover wait for the commit and
then see the renewed expiry). Expiry compares the workers' clocks: on several hosts
they must agree to well within ``ttl`` (NTP).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from command.db import Database, rowcount
from command.models import Lease as LeaseRow
from command.models import utcnow

log = logging.getLogger("command.lease")

TIMERS_LEASE = "sla-timers"


@dataclass
class Lease:
    database: Database
    name: str
    holder: str
    ttl: timedelta = timedelta(seconds=4)
    clock: Callable[[], datetime] = utcnow
    held: bool = field(default=False, init=False)

    def _take(self, session: Session, now: datetime, *, takeover: bool) -> bool:
        """UPDATE the row if we hold it (or, with ``takeover``, if it expired); True if it is ours now."""
        mine = LeaseRow.holder == self.holder
        condition = or_(mine, LeaseRow.expires_at < now) if takeover else (mine & (LeaseRow.expires_at >= now))
        result = session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == self.name, condition)
            .values(holder=self.holder, expires_at=now + self.ttl,
                    acquired_at=case((mine, LeaseRow.acquired_at), else_=now))
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    def try_hold(self) -> bool:
        """Renew the lease, or take it if it is free or expired. Returns whether we hold it now."""
        now = self.clock()
        with self.database.session() as session:
            got = self._take(session, now, takeover=True)
            if not got:
                current = session.execute(select(LeaseRow.holder, LeaseRow.expires_at).where(LeaseRow.name == self.name)).first()
        if not got and current is None:
            try:
                with self.database.session() as session:
                    session.add(LeaseRow(name=self.name, holder=self.holder, expires_at=now + self.ttl, acquired_at=now))
                got = True
            except IntegrityError:
                got = False  # another worker created it at the same moment; it holds it
        if got != self.held:
            if got:
                log.info("%s now holds the %s lease", self.holder, self.name)
            else:
                log.warning("%s lost the %s lease to %s", self.holder, self.name, current[0] if current else "?")
        self.held = got
        return got

    def renew_in(self, session: Session) -> bool:
        """Renew inside ``session``'s transaction, only if still ours and unexpired: the fence for guarded work."""
        self.held = self._take(session, self.clock(), takeover=False)
        return self.held

    def release(self) -> None:
        """Give the lease up at once (clean stop), so another worker need not wait for the expiry."""
        if not self.held:
            return
        with self.database.session() as session:
            session.execute(update(LeaseRow).where(LeaseRow.name == self.name, LeaseRow.holder == self.holder)
                            .values(expires_at=self.clock() - timedelta(seconds=1)).execution_options(synchronize_session=False))
        self.held = False
