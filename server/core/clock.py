"""The one source of "now" for services, so tests can move time instead of waiting for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def aware(moment: datetime) -> datetime:
    """A time as read back from the database: a naive one is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_millis(when: datetime) -> datetime:
    """MongoDB keeps milliseconds; trimming first makes what we return equal what a later read returns."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return to_millis(datetime.now(UTC) + self._offset)

    def advance(self, delta: timedelta) -> None:
        if self._frozen is not None:
            self._frozen = to_millis(self._frozen + delta)
        self._offset += delta

    def set(self, when: datetime) -> None:
        self._offset = when - datetime.now(UTC)
        if self._frozen is not None:
            self._frozen = to_millis(when)

    def freeze(self) -> None:
        """Stop time where it is, so that nothing falls due while a slow machine works (tests)."""
        self._frozen = self.now()
