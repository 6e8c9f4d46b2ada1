"""prometheus-client's per-worker metric files, allocated before they are written.

prometheus-client keeps each worker's values in files it maps into memory (`MmapedDict`), made
and grown with `truncate`: a sparse file whose blocks are allocated only when a page is first
written. On a full disk that first write is a page fault the kernel cannot serve, and the worker
dies of SIGBUS (docs/behaviour.md §12, "A full disk"); every worker that replaced it did too.
Here the blocks are allocated (`posix_fallocate`) before the mapping can touch them, so a full
disk is an `OSError` (ENOSPC) raised to the caller, which app/serving/metrics.py turns into a
metric not counted. Installed from app/serving/metrics.py, before any value exists.
"""

from __future__ import annotations

import os
import struct

from prometheus_client import values
from prometheus_client.mmap_dict import _INITIAL_MMAP_SIZE, MmapedDict


class AllocatedMmapedDict(MmapedDict):
    def __init__(self, filename: str, read_mode: bool = False) -> None:
        if not read_mode:
            with open(filename, "a+b") as file:
                if os.fstat(file.fileno()).st_size == 0:
                    try:
                        os.posix_fallocate(file.fileno(), 0, _INITIAL_MMAP_SIZE)
                    except OSError:
                        os.unlink(filename)  # never left empty: the parent would truncate it
                        raise
        super().__init__(filename, read_mode)  # type: ignore[no-untyped-call]

    def _init_value(self, key: str) -> None:
        encoded = key.encode("utf-8")
        entry = struct.calcsize(f"i{len(encoded) + 8 - (len(encoded) + 4) % 8}sdd")
        capacity = self._capacity
        while self._used + entry > capacity:  # the parent's growth rule: double until it fits
            capacity *= 2
        if capacity != self._capacity:
            os.posix_fallocate(self._f.fileno(), 0, capacity)
        super()._init_value(key)  # type: ignore[no-untyped-call]


def install() -> None:
    """Make prometheus-client's multiprocess values use the allocated files (it looks the class
    up in `prometheus_client.values` each time it opens a file)."""
    values.MmapedDict = AllocatedMmapedDict  # type: ignore[attr-defined]  # not in its __all__
