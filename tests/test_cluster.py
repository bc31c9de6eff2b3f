"""A real multi-node Ray cluster on this machine, secured with Ray's token authentication
(``RAY_AUTH_MODE=token``): a head and a second node (1 CPU each, distinct node ids,
``ray.cluster_utils.Cluster``), then ``raynas search --address`` and ``raynas train --address
--workers 2`` from the command line with the cluster's token, and a client without it refused
in one line.

The cluster lives in a child process (this file run as a script) with its own
``RAY_TMPDIR``, so it never meets the session's local Ray of the other tests (two Ray
instances in one process collide, and a cluster's address file in the default temp dir
would capture other ``ray.init()`` calls). The child starts the cluster, runs the two
commands, records what they did, shuts the cluster down and reports as JSON; the test
asserts on the report and that no process of the cluster is left.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[1]
MARKER = "RAYNAS_CLUSTER_TEST"  # in the environment of every process the cluster starts
BUDGET = 6  # search trials
COMMAND_TIMEOUT_S = 240


def _processes_with(token: str) -> list[str]:
    """``pid cmdline`` of live processes whose environment holds ``MARKER=token``."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue  # a zombie has exited; its parent has not reaped it yet
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry} {cmdline[:120]}")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster")
    token = uuid.uuid4().hex
    ray_tmp = tempfile.mkdtemp(prefix="rnc-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    auth_token = work / "auth_token"  # the cluster's token; every node and client reads it
    auth_token.write_text(secrets.token_hex(32))
    auth_token.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update({MARKER: token, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(auth_token)})
    started = time.monotonic()
    try:
        child = subprocess.run([sys.executable, __file__, str(work)], env=env, capture_output=True, text=True,
                               timeout=3 * COMMAND_TIMEOUT_S)
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 15  # processes killed by the shutdown may take a moment to go
        while (leftover := _processes_with(token)) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    report_path = work / "report.json"
    assert child.returncode == 0 and report_path.exists(), (
        f"cluster script failed (exit {child.returncode}):\n{child.stdout[-3000:]}\n{child.stderr[-6000:]}")
    report = json.loads(report_path.read_text())
    report.update(elapsed_s=elapsed, leftover=leftover, work=str(work))
    return report


def test_the_cluster_has_two_nodes(cluster_run):
    nodes = cluster_run["nodes"]
    assert len(nodes) == 2 and len(set(nodes)) == 2
    assert cluster_run["cpus"] == {node: 1.0 for node in nodes}


def test_search_spreads_its_trials_over_both_nodes(cluster_run):
    search = cluster_run["search"]
    assert search["returncode"] == 0, search["stderr"]
    rows = search["history"]
    assert len(rows) == BUDGET and all(row["status"] == "ok" for row in rows)
    trial_nodes = [row["node_id"] for row in rows]
    assert set(trial_nodes) == set(cluster_run["nodes"]), trial_nodes
    # Tune kept its experiment on the storage path both nodes share.
    assert search["experiment_files"] > 0


def test_train_places_one_worker_per_node(cluster_run):
    train = cluster_run["train"]
    assert train["returncode"] == 0, train["stderr"]
    workers = train["workers"]  # RayTrainWorker actors of the run: node id per worker
    assert len(workers) == 2, workers
    assert sorted(workers) == sorted(cluster_run["nodes"])
    assert train["checkpoint_exists"] and train["epochs"] == [1]


def test_the_cluster_runs_with_token_authentication(cluster_run):
    assert cluster_run["auth_mode"] == "token"


def test_a_client_without_the_token_is_refused_in_one_line(cluster_run):
    refused = cluster_run["refused"]
    assert refused["returncode"] == 2, refused["stderr"]
    line = refused["stderr"].strip().splitlines()[-1]
    assert line.startswith("raynas: error: cannot join the Ray cluster at " + cluster_run["address"])
    assert "token authentication" in line and "RAY_AUTH_MODE" in line
    assert "Traceback" not in refused["stderr"]
    assert not refused["out_exists"]  # refused before anything was written


def test_every_process_of_the_cluster_is_gone(cluster_run):
    assert cluster_run["started_processes"] >= 4  # two raylets, GCS, ...
    assert cluster_run["alive_after_shutdown"] == []
    assert cluster_run["leftover"] == []


# -- the child process ---------------------------------------------------------------------------
def _cli() -> list[str]:
    """The ``raynas`` console script of this environment (or the module where it is not installed)."""
    script = Path(sys.executable).with_name("raynas")
    return [str(script)] if script.exists() else [sys.executable, "-m", "raynas.cli.main"]


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, env=env)


def _child(work: Path) -> None:
    import search_spaces
    from ray.cluster_utils import Cluster

    from raynas.tune.search import read_history

    checkpoint = search_spaces.get("tiny", resolutions=[6, 8]).build_supernet(num_classes=10).save(
        work / "supernet.pt", train_config={"dataset": "synthetic"})
    report: dict = {}
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        nodes = cluster.list_all_nodes()
        report["nodes"] = [node.node_id for node in nodes]
        report["cpus"] = {n["NodeID"]: n["Resources"].get("CPU") for n in cluster.global_state.node_table()
                          if n["Alive"]}
        address = cluster.address
        report["address"] = address
        report["auth_mode"] = os.environ.get("RAY_AUTH_MODE")

        search_out = work / "search"
        done = _run(_cli() + ["search", "--address", address, "--checkpoint", str(checkpoint), "--strategy",
                              "random", "--budget", str(BUDGET), "--concurrency", "2", "--out", str(search_out),
                              "--quiet"])
        history = search_out / "history.csv"
        report["search"] = {
            "returncode": done.returncode, "stderr": done.stderr[-4000:],
            "history": read_history(history) if history.exists() else [],
            "experiment_files": sum(1 for _ in (search_out / "tune").rglob("*")) if (search_out / "tune").exists() else 0,
        }

        train_out = work / "train"
        done = _run(_cli() + ["train", "--address", address, "--workers", "2", "--epochs", "1", "--batch-size", "32",
                              "--dataset", "synthetic", "--out", str(train_out), "--quiet"])
        actors = cluster.global_state.actor_table(None)
        workers = [a["Address"]["NodeID"] for a in actors.values() if a["ActorClassName"] == "RayTrainWorker"]
        history_file = train_out / "train_history.csv"
        epochs = []
        if history_file.exists():
            import csv

            with open(history_file, newline="") as f:
                epochs = [int(float(row["epoch"])) for row in csv.DictReader(f)]
        report["train"] = {"returncode": done.returncode, "stderr": done.stderr[-4000:], "workers": workers,
                           "checkpoint_exists": (train_out / "supernet.pt").exists(), "epochs": epochs}

        # A client with neither RAY_AUTH_MODE=token nor the token (nor ~/.ray/auth_token's copy of it).
        bare = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        bare["HOME"] = str(work / "elsewhere")
        refused_out = work / "refused"
        done = _run(_cli() + ["search", "--address", address, "--checkpoint", str(checkpoint), "--strategy",
                              "random", "--budget", "2", "--out", str(refused_out), "--quiet"], env=bare)
        report["refused"] = {"returncode": done.returncode, "stderr": done.stderr[-4000:],
                             "out_exists": refused_out.exists()}
    finally:
        processes = [p.process for node in cluster.list_all_nodes() for infos in node.all_processes.values()
                     for p in infos]
        cluster.shutdown()
    report["started_processes"] = len(processes)
    deadline = time.monotonic() + 10
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    report["alive_after_shutdown"] = [p.pid for p in processes if p.poll() is None]
    (work / "report.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
