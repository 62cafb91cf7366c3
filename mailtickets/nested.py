"""A background service used as a context manager that nests: the outermost `with` starts
it and its end stops it, so a cycle inside a daemon's run shares the run's service."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Nested:
    """Subclasses say what `start` and `stop` do; a `start` that raises counts no entry."""

    _depth = 0

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self._depth == 0:
            self.start()
        self._depth += 1
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.stop()
