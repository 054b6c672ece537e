"""benchmarks/mftdma_queue_speed.py: both queue forms give the same episodes, the table is written, bad sizes named."""

import pytest
from bench_scripts import load


def test_queue_speed_table(tmp_path, monkeypatch):
    m = load("mftdma_queue_speed", siblings=True)
    monkeypatch.setattr(m, "CASES", m.CASES[:2])  # the 8-node ones (a 32-node reset draws thousands of topologies)
    assert m.main(["--envs", "2", "--frames", "3", "--repeats", "1", "--out", str(tmp_path)]) == 0
    rows = [line for line in (tmp_path / "queue_speed.md").read_text().splitlines() if line.startswith("| n")]
    assert [r.split("|")[1].strip() for r in rows] == [c[0] for c in m.CASES]
    for r in rows:  # the speed-up is the shifting time over the ring time of the same row
        old, new, ratio = (float(c.strip(" *")) for c in r.split("|")[3:6])
        assert old > 0 and new > 0 and ratio == pytest.approx(old / new, rel=0.05, abs=0.02)


def test_a_different_episode_is_caught_and_bad_sizes_named(tmp_path, capsys, monkeypatch):
    m = load("mftdma_queue_speed", siblings=True)
    monkeypatch.setattr(m, "CASES", m.CASES[:1])
    monkeypatch.setattr(m, "shift_pop", lambda d, b, r, h, length, k: _drop_all(length))
    with pytest.raises(SystemExit, match="returned different episodes"):
        m.main(["--envs", "2", "--frames", "20", "--repeats", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        m.main(["--frames", "0", "--out", str(tmp_path)])
    assert "--frames: must be >= 1, got 0" in capsys.readouterr().err


def _drop_all(length):
    """A wrong pop: empties every queue without transmitting anything."""
    import numpy as np

    length[:] = 0
    empty = np.zeros(0, int)
    return empty, np.zeros(0), empty, empty
