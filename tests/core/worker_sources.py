"""File sources for the fetch worker's tests, importable by the worker process (which opens
its own copy through ``opener()``)."""

from __future__ import annotations

import functools
import os

from dcmx_core.errors import SourceError
from dcmx_core.sources.memory import FileChain


class CountingFileChain(FileChain):
    """Counts the ranges whose logs this process read (the worker's reads are its own)."""

    def __init__(self, path, opener=None) -> None:
        super().__init__(path)
        self.reads = 0
        self._opener = opener

    def logs(self, *args, **kwargs):
        self.reads += 1
        return super().logs(*args, **kwargs)

    def opener(self):
        return self._opener or super().opener()


class FailingFileChain(FileChain):
    """In the worker: every logs() of a range starting at an odd block fails."""

    def logs(self, start, end, *args, **kwargs):
        if start % 2:
            raise SourceError(f"node failed for {start}..{end}")
        return super().logs(start, end, *args, **kwargs)


class DyingFileChain(FileChain):
    """In the worker: the process dies at its fourth range."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.calls = 0

    def logs(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 4:
            os._exit(3)
        return super().logs(*args, **kwargs)


def failing(path):
    return functools.partial(FailingFileChain, path)


def dying(path):
    return functools.partial(DyingFileChain, path)


def missing(path):
    return functools.partial(FileChain, str(path) + ".gone")
