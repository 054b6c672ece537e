"""benchmarks/vcmdp_fit_speed.py: both loss forms timed on both views, the table written, bad sizes named."""

import pytest
from bench_scripts import load


def test_fit_speed_table(tmp_path, capsys):
    m = load("vcmdp_fit_speed", siblings=True)
    assert m.main(["--steps", "1", "--repeats", "1", "--batch", "8", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "vcmdp_fit_speed.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| channel") or line.startswith("| queue")]
    assert len(rows) == 2 and all(len(r.split("|")) == 7 for r in rows)  # view, D, dense, packed, speed-up
    assert "| 96 |" in rows[0] and "| 24 |" in rows[1]
    for r in rows:  # the speed-up column is the dense time over the packed time of the same row
        dense, packed, ratio = (float(c.strip(" *")) for c in r.split("|")[3:6])
        assert dense > 0 and packed > 0 and ratio == pytest.approx(dense / packed, rel=0.1)  # times rounded to 0.1 ms
    with pytest.raises(SystemExit):
        m.main(["--steps", "0", "--out", str(tmp_path)])
    assert "--steps: must be >= 1, got 0" in capsys.readouterr().err
