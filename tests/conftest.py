"""Shared fixtures: one local Ray per test session (two at once collide), with Ray's token
authentication on, as raynas leaves it."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def ray_auth_token(tmp_path_factory):
    """This test session's own Ray token, for every Ray it starts or joins (subprocesses inherit it).

    Token authentication stays on (Ray's default for a local Ray, which raynas keeps). The token is
    the session's own, rather than ``~/.ray/auth_token``, because test sessions running at once on
    one machine would otherwise race to create that shared file, and a Ray whose token changed
    under it refuses its own new workers. A token the environment already gives is kept.
    """
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        yield None
        return
    path = tmp_path_factory.mktemp("ray-auth") / "auth_token"
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)
    yield path
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)


@pytest.fixture(scope="session")
def ray_session(ray_auth_token):
    """A local Ray with 2 CPUs, started once and shut down at the end of the session."""
    from raynas._ray import set_ray_env

    set_ray_env()
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: tiny tensors gain nothing from more, and on a busy
    two-core machine extra threads slow them down many times over."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def python() -> str:
    return sys.executable
