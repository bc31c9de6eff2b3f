"""Losing a Ray Train worker mid-run costs at most the epochs since the last checkpoint."""

import os
import signal
import threading
import time

import pytest

from raynas.train import TrainConfig, train


def _raylet_pid():
    import ray._private.worker as worker

    return worker._global_node.all_processes["raylet"][0].process.pid


def _train_worker_pids(node_id):
    """Ray Train worker processes of this test's Ray node (read from /proc: no dashboard needed)."""
    raylet = _raylet_pid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0].decode(errors="replace")
            if not title.startswith("ray::") or "TrainWorker" not in title:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{entry}/status") as f:
                parent = next(int(line.split()[1]) for line in f if line.startswith("PPid:"))
        except OSError:
            continue
        if f"RAY_NODE_ID={node_id}".encode() in environ or parent == raylet:
            pids.append(int(entry))
    return sorted(pids)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker processes through /proc")
def test_killed_worker_resumes_from_the_last_checkpoint(ray_session, tmp_path):
    node_id = ray_session.get_runtime_context().get_node_id()
    epochs = 8
    config = TrainConfig(dataset="synthetic", epochs=epochs, num_workers=2, batch_size=16, seed=0,
                         checkpoint_every=1, max_failures=2)
    outcome = {}

    def run():
        try:
            outcome["result"] = train(config, tmp_path / "run")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    storage = tmp_path / "run" / "ray" / "train"
    killed = None
    deadline = time.monotonic() + 240
    while thread.is_alive() and killed is None and time.monotonic() < deadline:
        if storage.exists() and any(p.name.startswith("checkpoint") for p in storage.iterdir()):
            pids = _train_worker_pids(node_id)
            if len(pids) == 2:
                killed = pids[1]
                os.kill(killed, signal.SIGKILL)
                break
        time.sleep(0.2)
    thread.join(timeout=600)
    assert killed is not None, "the run ended before a worker could be killed; make it longer"
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    epochs_seen = [int(row["epoch"]) for row in result.history]
    assert epochs_seen == list(range(1, epochs + 1))  # finished, and no gap in the metrics history
    assert result.checkpoint.exists()
    assert killed not in _train_worker_pids(node_id)
