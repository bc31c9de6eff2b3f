"""Starting or joining Ray with settings that suit local runs and tests.

Ray's security defaults are kept: raynas sets no ``RAY_AUTH_MODE``, so a local Ray starts
with Ray's token authentication (the token in ``~/.ray/auth_token``, made on first use, or
wherever ``RAY_AUTH_TOKEN`` / ``RAY_AUTH_TOKEN_PATH`` say), and joining a token-authenticated
cluster needs that cluster's token (docs/cluster.md). A failure to reach or to join a cluster
is one :class:`~raynas.errors.ClusterError` naming the address and the likely cause.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from typing import Any, Mapping

from raynas.errors import ClusterError, ConfigError

__all__ = ["init_ray", "set_ray_env", "auth_summary", "check_runtime_env"]

logger = logging.getLogger(__name__)

# Quiet, local-friendly defaults; a user's own environment wins. Nothing about authentication.
_ENV_DEFAULTS = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
    "RAY_DEDUP_LOGS": "0",
    # Save the experiment state (trials and searcher) at most every second, so a
    # killed search driver loses at most that much work on resume (Tune's default: 10 s).
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
}

_REACH_TIMEOUT_S = 5.0
_started_with: dict[str, Any] | None = None  # the runtime_env of the Ray this process's init_ray started or joined
_TOKEN_HELP = ("set RAY_AUTH_MODE=token and give this client the cluster's token (RAY_AUTH_TOKEN, "
               "RAY_AUTH_TOKEN_PATH, or the head's ~/.ray/auth_token copied to this machine); see docs/cluster.md")


def set_ray_env() -> None:
    """Set raynas's default Ray environment variables where the user has not set them."""
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def auth_summary() -> str:
    """How this process would authenticate to a Ray cluster, in words (no secret is shown)."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if os.environ.get("RAY_AUTH_TOKEN"):
        source = "RAY_AUTH_TOKEN"
    elif os.environ.get("RAY_AUTH_TOKEN_PATH"):
        source = f"RAY_AUTH_TOKEN_PATH={os.environ['RAY_AUTH_TOKEN_PATH']}"
    elif (Path.home() / ".ray" / "auth_token").is_file():
        source = "~/.ray/auth_token"
    else:
        source = None
    if mode is None or mode.lower() != "token":
        shown = "unset" if mode is None else repr(mode)
        return f"this client sends no token (RAY_AUTH_MODE is {shown}, not 'token')"
    if source is None:
        return "RAY_AUTH_MODE=token but this client has no token"
    return f"this client sends the token from {source}, which may not be the cluster's"


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a plain ``host:port`` address; ``None`` for ``auto``, ``ray://`` and the like."""
    if "://" in address or address in ("auto", "local"):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _check_reachable(address: str) -> None:
    """Fail fast, in one line, when nothing answers at ``address`` (Ray itself retries for long)."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=_REACH_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        raise ClusterError(
            f"cannot reach the Ray cluster at {address}: {reason}; is its head running "
            f"(`ray start --head`) and the port open to this machine?") from None


def _join(address: str, log_to_driver: bool, runtime_env: dict[str, Any] | None) -> None:
    import ray
    import ray.exceptions

    # Ray's own error for a missing token (Ray >= 2.52); older Rays raise ConnectionError only.
    AuthenticationError = getattr(ray.exceptions, "AuthenticationError", ConnectionError)
    _check_reachable(address)
    logger.info("joining Ray cluster at %s", address)
    try:
        ray.init(address=address, log_to_driver=log_to_driver, runtime_env=runtime_env)
    except AuthenticationError as exc:
        detail = " ".join(str(getattr(exc, "message", exc)).split())
        raise ClusterError(f"cannot join the Ray cluster at {address}: {detail}; {_TOKEN_HELP}") from None
    except ConnectionError:
        raise ClusterError(
            f"cannot join the Ray cluster at {address}: it answers but refused this client; the likely "
            f"cause is token authentication: {auth_summary()}; {_TOKEN_HELP}") from None


def check_runtime_env(runtime_env: Any) -> dict[str, Any] | None:
    """``runtime_env`` as a dict (``None`` stays ``None``); a ``working_dir`` must be an existing folder or a URI.

    Raises:
        ConfigError: not a mapping, or a local ``working_dir`` that is not a folder.
    """
    if runtime_env is None:
        return None
    if not isinstance(runtime_env, Mapping):
        raise ConfigError(f"runtime_env must be a dict (Ray's runtime environment), got {type(runtime_env).__name__}")
    env = dict(runtime_env)
    working_dir = env.get("working_dir")
    if working_dir is not None and "://" not in str(working_dir):
        if not Path(working_dir).expanduser().is_dir():
            raise ConfigError(f"runtime_env working_dir {str(working_dir)!r} is not a folder")
        env["working_dir"] = str(Path(working_dir).expanduser().resolve())
    return env


def init_ray(address: str | None = None, *, num_cpus: int | None = None, log_to_driver: bool = False,
             runtime_env: Mapping[str, Any] | None = None) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), or start a local Ray; no-op if already initialised.

    A local Ray keeps Ray's default token authentication.

    Args:
        runtime_env: Ray's runtime environment for this job (e.g. ``{"working_dir": "."}`` ships the
            user's code to every worker, ``{"pip": [...]}``, ``{"env_vars": {...}}``).

    Returns True when this call started or joined Ray (so the caller may shut it down).

    Raises:
        ClusterError: nothing answers at the address, or the cluster refused this client
            (most often: token authentication without the cluster's token).
        ConfigError: ``runtime_env`` is given but Ray is already running in this process with
            another one (a job's runtime environment is fixed when it connects).
    """
    global _started_with
    set_ray_env()
    runtime_env = check_runtime_env(runtime_env)
    import ray

    if ray.is_initialized():
        if runtime_env is not None and runtime_env != _started_with:
            raise ConfigError(
                "runtime_env applies when raynas starts or joins Ray, and Ray is already initialised in this "
                "process; pass it to your own ray.init(runtime_env=...) instead, or let raynas start Ray")
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _join(address, log_to_driver, runtime_env)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=log_to_driver, runtime_env=runtime_env)
    _started_with = runtime_env
    return True
