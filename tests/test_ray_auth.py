"""raynas keeps Ray's token authentication, and an address it cannot reach is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import search_spaces
from raynas._ray import auth_summary, set_ray_env

REPO = Path(__file__).resolve().parents[1]


def test_raynas_sets_no_auth_mode(monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    set_ray_env()
    assert "RAY_AUTH_MODE" not in os.environ


def test_the_local_ray_runs_with_token_authentication(ray_session):
    # Nobody opted out, so Ray turned token mode on for this process (and its workers) itself.
    assert os.environ.get("RAY_AUTH_MODE") == "token"


def test_auth_summary_names_what_the_client_lacks(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(key, raising=False)
    assert "sends no token (RAY_AUTH_MODE is unset" in auth_summary()
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert "has no token" in auth_summary()
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "t"))
    assert f"from RAY_AUTH_TOKEN_PATH={tmp_path / 't'}" in auth_summary()


def test_an_unreachable_address_is_one_line_and_writes_nothing(tmp_path):
    search_spaces.get("tiny", resolutions=[6, 8]).build_supernet(num_classes=10).save(
        tmp_path / "sn.pt", train_config={"dataset": "synthetic"})
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "raynas.cli.main", "search", "--address", "127.0.0.1:1",
                           "--checkpoint", str(tmp_path / "sn.pt"), "--out", str(tmp_path / "o")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("raynas: error: cannot reach the Ray cluster at 127.0.0.1:1: connection refused; "
                                   "is its head running (`ray start --head`) and the port open to this machine?")
    assert not (tmp_path / "o").exists()
