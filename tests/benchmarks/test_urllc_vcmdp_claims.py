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
