"""What a process was doing, as labelled intervals, so a waiting consumer can say why it waited.

A loader or the write-back appends `(start, end, cause)` intervals as they finish, in time order.
When the PE array waits for that process over `[a, b]`, the wait is split over the intervals it
overlaps; cycles no interval covers were spent waiting for the process to be unblocked by an
earlier stage, which we call a `dependency`.
"""

from __future__ import annotations

DEPENDENCY = "dependency"


class PhaseLog:
    __slots__ = ("_cursor", "causes", "ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.causes: list[str] = []
        self._cursor = 0

    def add(self, start: int, end: int, cause: str) -> None:
        if end > start:
            self.starts.append(start)
            self.ends.append(end)
            self.causes.append(cause)

    def busy_after(self, now: int) -> bool:
        """The last phase logged ends after `now`."""
        return bool(self.ends) and self.ends[-1] > now

    def attribute(self, start: int, end: int, into: dict) -> None:
        """Add the cycles of `[start, end)` to `into[cause]`. Queries must not go back in time."""
        if end <= start:
            return
        i = self._cursor
        ends, starts, causes = self.ends, self.starts, self.causes
        n = len(ends)
        while i < n and ends[i] <= start:
            i += 1
        self._cursor = i
        t = start
        while t < end and i < n and starts[i] < end:
            s = max(starts[i], t)
            if s > t:
                into[DEPENDENCY] = into.get(DEPENDENCY, 0) + (s - t)
            e = min(ends[i], end)
            into[causes[i]] = into.get(causes[i], 0) + (e - s)
            t = e
            if ends[i] <= end:
                i += 1
            else:
                break
        if t < end:
            into[DEPENDENCY] = into.get(DEPENDENCY, 0) + (end - t)
