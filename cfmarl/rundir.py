"""Run directories and crash-safe file writing.

Every file is written to a temporary sibling and moved into place with
``os.replace`` (atomic on POSIX), so an interrupted run never leaves a
half-written result behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("cfmarl", "numpy", "scipy", "gymnasium", "pettingzoo", "matplotlib", "ray", "torch",
             "torch-geometric")


def new_run_dir(root: str | os.PathLike, label: str) -> Path:
    """Create ``root/<UTC time>-<label>`` (with a numeric suffix if it exists); characters other than
    letters, digits, '.', '_' and '-' in the label become '_' (scenario names like ``n8-2:6``)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    label = re.sub(r"[^A-Za-z0-9._-]", "_", label)
    base = Path(root) / f"{stamp}-{label}"
    path, i = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            i += 1
            path = base.with_name(f"{base.name}-{i}")


def _file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (0o666 minus the umask): ``mkstemp`` makes its
    files 0600, which would leave results on shared storage unreadable to the rest of the team."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_report(path: str | os.PathLike | None, text: str) -> None:
    """Print a report and, when ``path`` is given, write it atomically (creating its folder)."""
    print(text)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
        print(f"report written to {path}")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], fields: list[str] | None = None) -> None:
    rows = list(rows)
    fields = fields or list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r.get(k, "")) for k in fields})
    atomic_write_text(path, buf.getvalue())


def versions() -> dict[str, str]:
    """Python, platform and installed package versions (without importing the packages)."""
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
           "cpu_count": str(os.cpu_count())}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def _jsonable(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
