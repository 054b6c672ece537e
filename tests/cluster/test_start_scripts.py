"""cluster/start-head.sh + start-worker.sh for real: two `ray start` nodes with distinct ports
and a shared token, a driver that uses both, and a worker without the token refused.
Only the process groups this test started are stopped (never `ray stop`)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _node_ports(ports: list[int]) -> list[str]:
    keys = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
            "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port",
            "--min-worker-port", "--max-worker-port"]
    lo = ports[6]
    vals = ports[:6] + [lo, lo + 40]
    return [x for k, v in zip(keys, vals) for x in (k, str(v))]


def _start(script: str, args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(ROOT / "cluster" / script), *args], env=env, cwd=ROOT,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


DRIVER = """
import json, ray
ray.init(address="{address}", log_to_driver=False)
deadline = __import__("time").time() + 60
while len([n for n in ray.nodes() if n["Alive"]]) < 2 and __import__("time").time() < deadline:
    __import__("time").sleep(0.5)
@ray.remote(num_cpus=1)
def where():
    return ray.get_runtime_context().get_node_id()
ids = ray.get([where.options(scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
    n["NodeID"], soft=False)).remote() for n in ray.nodes() if n["Alive"]])
print("NODES " + json.dumps(sorted(set(ids))))
"""


def test_start_scripts_token_cluster(tmp_path):
    token = tmp_path / "auth_token"
    ports = _free_ports(2 + 2 * 8)
    gcs, dash = ports[0], ports[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env = dict(base, CFMARL_SKIP_INSTALL="1", PYTHON=sys.executable, RAY_BLOCK="1",
               RAY_AUTH_TOKEN_PATH=str(token), RAY_PORT=str(gcs), RAY_DASHBOARD_PORT=str(dash), RAY_NUM_CPUS="1")
    short = Path(tempfile.mkdtemp(prefix="cfr", dir="/tmp"))  # Ray's socket paths must stay < 108 bytes
    head = _start("start-head.sh", ["--temp-dir", str(short / "h"), "--include-dashboard", "false",
                                    *_node_ports(ports[2:10])], env, tmp_path / "head.log")
    procs = [head]
    try:
        from ray.util import get_node_ip_address

        address = f"{get_node_ip_address()}:{gcs}"
        deadline = time.time() + 90
        while not token.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert token.exists() and (token.stat().st_mode & 0o077) == 0, "the head must create a private token"
        time.sleep(3)
        # a worker without the token is refused
        bad_env = dict(env, RAY_AUTH_TOKEN_PATH=str(tmp_path / "missing"))
        bad = subprocess.run(["bash", str(ROOT / "cluster" / "start-worker.sh"), address], env=bad_env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "token" in (bad.stdout + bad.stderr).lower()
        assert head.poll() is None, (tmp_path / "head.log").read_text()[-3000:]
        worker = _start("start-worker.sh", [address, "--temp-dir", str(short / "w"), *_node_ports(ports[10:18])],
                        env, tmp_path / "worker.log")
        procs.append(worker)
        denv = dict(base, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
        out = subprocess.run([sys.executable, "-c", DRIVER.format(address=address)], env=denv, cwd=ROOT,
                             capture_output=True, text=True, timeout=180)
        lines = [x for x in out.stdout.splitlines() if x.startswith("NODES ")]
        assert lines, out.stdout[-2000:] + out.stderr[-2000:] + (tmp_path / "worker.log").read_text()[-2000:]
        assert len(json.loads(lines[-1][6:])) == 2  # tasks ran on both nodes
    finally:
        for p in reversed(procs):
            _stop(p)
        shutil.rmtree(short, ignore_errors=True)
