"""benchmarks/urllc_vcmdp.py pretraining claims from a pipeline report: the paper's arm judged by the paper's
numbers, another learned env's arm named as a variant in every claim, a missing arm reported as not measured."""

from bench_scripts import load


def _report(arm: str, ee0: float, v0: float, ee1: float, steps: float) -> list[dict]:
    def row(a, metric, ini, fin, conv):
        return {"arm": a, "metric": metric, "seeds": "3", "initial": str(ini), "initial_std": "0.0",
                "final": str(fin), "final_std": "1.0e7", "converged_at_env_steps": str(conv)}
    ee, viol = "kpi/energy_efficiency_bit_per_j", "kpi/delay_violation_rate"
    return [row(arm, ee, ee0, ee1, steps), row(arm, viol, v0, 0.001, steps),
            row("from scratch", ee, 3.0e7, 1.5e9, 120000), row("from scratch", viol, 0.08, 0.001, 120000)]


def test_paper_arm_and_variant_arm():
    m = load("urllc_vcmdp")
    paper = {r["claim"]: r for r in m.pretraining_claims(_report("pretrained (vae_chmdn)", 6.3e7, 0.01, 1.6e9, 60000),
                                                          {})}
    first = paper["Pretraining in the virtual CMDP doubles the initial energy efficiency in the real env"]
    assert first["holds"] == "yes" and first["measured"].startswith("2.10x")
    assert paper["Pretraining cuts the initial delay-violation rate"]["holds"] == "yes"
    assert paper["Pretraining raises the final energy efficiency"]["holds"] == "yes"  # +6.7 % > the 0.7 % spread
    assert paper["Pretraining halves the real-env steps to converge"]["holds"] == "yes"  # 50 % fewer
    variant = m.pretraining_claims(_report("pretrained (vae)", 3.5e8, 0.22, 1.4e9, 118000), {})
    assert len(variant) == 4 and all(r["claim"].endswith("[variant: pretrained in the vae learned env]")
                                     for r in variant)
    assert [r["holds"] for r in variant] == ["yes", "no", "no", "partial"]
    missing = m.pretraining_claims(_report("pretrained (vae)", 1, 1, 1, 1)[2:], {})
    assert missing[0]["holds"] == "not measured"


def test_variant_folder_replaces_only_its_own_rows(tmp_path, capsys):
    """`--variant RUNS --label L`: the folder's pretraining table and plot beside the paper's, its claims named
    " [variant: L]" in place of that variant's earlier rows, every other row (the paper's, other variants') kept;
    the pair is required together and a folder without report.csv is named."""
    import csv

    import pytest

    m = load("urllc_vcmdp")
    runs, out = tmp_path / "offline-urllc_vcmdp_clip", tmp_path / "results"
    runs.mkdir()
    out.mkdir()
    fields = ["arm", "metric", "seeds", "initial", "initial_std", "final", "final_std", "converged_at_env_steps"]
    with open(runs / "report.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(_report("pretrained (vae_chmdn)", 6.3e7, 0.01, 1.6e9, 60000))
    (runs / "report.png").write_bytes(b"png")
    ev = runs / "rl" / "train-finetune-vae_chmdn-s0"
    ev.mkdir(parents=True)
    with open(ev / "evaluation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["policy", "energy_efficiency_bit_per_j", "delay_violation_rate",
                                          "throughput_kbps"])
        w.writeheader()
        w.writerow({"policy": "finetune-vae_chmdn-s0", "energy_efficiency_bit_per_j": 2e9,
                    "delay_violation_rate": 0.0, "throughput_kbps": 100})
        w.writerow({"policy": "lyapunov-kan:models=/x/models", "energy_efficiency_bit_per_j": 4e7,
                    "delay_violation_rate": 0.08, "throughput_kbps": 90})
    label = "draws clipped at 3 sigma"
    keep = [{"claim": "The KAN predicts the reward better than an MLP of equal size", "paper": "p", "measured": "m",
             "holds": "yes", "evidence": "e"},
            {"claim": "Pretraining cuts the initial delay-violation rate [variant: pretrained in the vae learned env]",
             "paper": "p", "measured": "m", "holds": "no", "evidence": "e"}]
    stale = {"claim": f"Pretraining cuts the initial delay-violation rate [variant: {label}]", "paper": "p",
             "measured": "old", "holds": "no", "evidence": "e"}
    with open(out / "claims.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(stale))
        w.writeheader()
        w.writerows(keep + [stale])
    assert m.main(["--out", str(out), "--variant", str(runs), "--label", label]) == 0
    rows = list(csv.DictReader(open(out / "claims.csv")))
    assert rows[:2] == keep
    mine = rows[2:]
    assert len(mine) == 5 and all(r["claim"].endswith(f" [variant: {label}]") for r in mine)
    assert "old" not in [r["measured"] for r in mine]
    assert mine[0]["measured"].startswith("2.10x") and mine[0]["holds"] == "yes"
    assert mine[4]["claim"].startswith("The pretrained, fine-tuned PPO beats the KAN-driven Lyapunov") and \
        mine[4]["holds"] == "yes"
    assert "--variant runs/offline-urllc_vcmdp_clip" in mine[0]["evidence"]
    text = (out / "vcmdp_pretraining_clip.md").read_text()
    assert "cfmarl offline tune_configs/urllc_vcmdp_clip.yaml" in text and "pretrained (vae_chmdn)" in text
    assert (out / "vcmdp_pretraining_clip.png").read_bytes() == b"png"
    with pytest.raises(SystemExit):
        m.main(["--out", str(out), "--variant", str(runs)])
    assert "--variant and --label go together" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="report.csv not found"):
        m.main(["--out", str(out), "--variant", str(tmp_path / "offline-urllc_vcmdp_none"), "--label", label])
    # the plain report (here of a folder with nothing measured) rewrites the paper's rows and keeps the variants'
    assert m.main(["--runs", str(tmp_path / "offline-urllc_vcmdp_paper"), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "claims.csv")))
    assert keep[0] not in rows and keep[1] in rows and all(r in rows for r in mine)
