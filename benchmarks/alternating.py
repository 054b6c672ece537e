"""What the old-vs-new speed benchmarks share (vcmdp_fit_speed.py, mftdma_queue_speed.py): both forms measured
alternately in one process, and the machine sentence of their reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def alternate(measure: Callable[[bool], Any], repeats: int) -> dict[bool, list]:
    """``measure(old)`` for the old form (True) and the new one (False), ``repeats`` times each, the old form first
    on even repeats and second on odd ones (so neither always runs on a warmer process); their results per form."""
    got: dict[bool, list] = {True: [], False: []}
    for r in range(repeats):
        for old in ((True, False) if r % 2 == 0 else (False, True)):
            got[old].append(measure(old))
    return got


def machine_sentence(load0: float, package: str) -> str:
    """'Machine: <platform>, <n> CPUs, load average <start> at the start and <now> at the end (...); <package>
    <version>.' for a report begun at load average ``load0``."""
    from cfmarl.rundir import versions

    v = versions()
    return (f"Machine: {v.get('platform')}, {v.get('cpu_count')} CPUs, load average {load0:.1f} at the start and "
            f"{os.getloadavg()[0]:.1f} at the end (other processes share the cores when it is above ~1); {package} "
            f"{v.get(package)}.")
