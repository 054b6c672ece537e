"""Cluster security rules of cluster/README.md, checked on the files themselves: token file modes
with the real scripts, the launchers' token procedure, the AWS security group, and the KubeRay
Services, dashboard hosts and NetworkPolicies."""

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _bash(script: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], env={**os.environ, "CFMARL_SKIP_INSTALL": "1", **env},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_make_token_creates_a_private_token(tmp_path):
    token = tmp_path / "new" / "auth_token"
    r = _bash(f"umask 022; {CLUSTER / 'make-token.sh'} {token}", {})
    assert r.returncode == 0, r.stderr
    assert _mode(token) == 0o600 and len(token.read_text().strip()) == 64
    assert _mode(token.parent) & 0o077 == 0  # the folder it made is owner-only too
    before = token.read_text()
    assert _bash(f"{CLUSTER / 'make-token.sh'} {token}", {}).returncode == 0
    assert token.read_text() == before  # an existing token is kept, never replaced


@pytest.mark.parametrize("how", ["make-token", "common.sh (start-head / start-worker)"])
def test_existing_world_readable_token_ends_0600(tmp_path, how):
    token = tmp_path / "auth_token"
    token.write_text("f" * 64 + "\n")
    token.chmod(0o644)  # what `ray get-auth-token --generate` leaves under umask 022
    if how == "make-token":
        r = _bash(f"{CLUSTER / 'make-token.sh'} {token}", {})
    else:
        r = _bash(f"source {CLUSTER / 'common.sh'}", {"RAY_AUTH_TOKEN_PATH": str(token)})
    assert r.returncode == 0, r.stderr
    assert _mode(token) == 0o600
    assert "from mode 644 to 600" in r.stderr
    assert token.read_text() == "f" * 64 + "\n"


def test_start_head_tightens_an_existing_token(tmp_path):
    """start-head.sh itself, up to `ray start` (a stand-in python that only records its arguments)."""
    token = tmp_path / "auth_token"
    token.write_text("a" * 64 + "\n")
    token.chmod(0o664)
    fake = tmp_path / "python"
    fake.write_text("#!/usr/bin/env bash\necho \"$@\" > " + str(tmp_path / "args") + "\n")
    fake.chmod(0o755)
    r = _bash(str(CLUSTER / "start-head.sh"), {"RAY_AUTH_TOKEN_PATH": str(token), "PYTHON": str(fake)})
    assert r.returncode == 0, r.stderr
    assert _mode(token) == 0o600 and token.read_text() == "a" * 64 + "\n"
    args = (tmp_path / "args").read_text()
    assert "--dashboard-host 127.0.0.1" in args and "--head" in args


@pytest.mark.parametrize("name", ["aws.yaml", "onprem.yaml"])
def test_launchers_copy_the_token_and_make_it_private_again(name):
    text = (CLUSTER / name).read_text()
    cfg = yaml.safe_load(text)
    assert "~/.ray/auth_token" in cfg["file_mounts"]
    first = cfg["setup_commands"][0]
    assert "chmod 600 ~/.ray/auth_token" in first and "chmod 700 ~/.ray" in first
    assert "make-token.sh" in text  # the procedure they recommend creates it 0600
    assert "ray get-auth-token --generate" not in text.replace("`ray get-auth-token --generate`: that one", "")


def test_aws_security_group_is_defined_and_closed():
    cfg = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    sg = cfg["provider"]["security_group"]
    assert sg["GroupName"]
    for rule in sg.get("IpPermissions", []):  # extra rules: none may open a Ray port to an address range
        lo, hi = rule.get("FromPort", 0), rule.get("ToPort", 65535)
        opens = rule.get("IpRanges") or rule.get("Ipv6Ranges")
        assert not (opens and any(lo <= p <= hi for p in (6379, 8265, 10001))), rule
    for node in cfg["available_node_types"].values():  # every node in the launcher-made group
        assert "SecurityGroupIds" not in node["node_config"]


def _kube(name: str) -> list[dict]:
    return list(yaml.safe_load_all((CLUSTER / name).read_text()))


def _cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]


@pytest.mark.parametrize("name", ["kuberay-raycluster.yaml", "kuberay-rayjob.yaml"])
def test_kuberay_dashboard_services_and_network_policy(name):
    docs = _kube(name)
    ray_doc = next(d for d in docs if d["kind"] in ("RayCluster", "RayJob"))
    spec = _cluster_spec(ray_doc)
    head = spec["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"
    host = head.get("rayStartParams", {}).get("dashboard-host", "localhost")
    assert host in ("127.0.0.1", "localhost") or head.get("serviceType") == "ClusterIP"
    if ray_doc["kind"] == "RayCluster":
        assert host == "127.0.0.1"  # nothing in the cluster needs it: loopback + port-forward
    # the NetworkPolicy selects every Ray pod and admits only them (+ the operator on the dashboard port)
    pods = [head["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
    if ray_doc["kind"] == "RayJob":
        pods.append(ray_doc["spec"]["submitterPodTemplate"])
    labels = [p["metadata"]["labels"] for p in pods]
    pol = next(d for d in docs if d["kind"] == "NetworkPolicy")
    sel = pol["spec"]["podSelector"]["matchLabels"]
    assert all(sel.items() <= lab.items() for lab in labels)
    assert "Ingress" in pol["spec"]["policyTypes"]
    for rule in pol["spec"]["ingress"]:
        for src in rule["from"]:
            assert "ipBlock" not in src
            if src["podSelector"]["matchLabels"] == sel:
                continue  # the cluster's own pods
            assert src["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "kuberay-operator"}
            assert [p["port"] for p in rule["ports"]] == [8265]
