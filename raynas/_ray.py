"""Starting or joining Ray with settings that suit local runs and tests."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

# Quiet, local-friendly defaults; a user's own environment wins.
_ENV_DEFAULTS = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
    "RAY_DEDUP_LOGS": "0",
    # Save the experiment state (trials and searcher) at most every second, so a
    # killed search driver loses at most that much work on resume (Tune's default: 10 s).
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
}


def set_ray_env() -> None:
    """Set raynas's default Ray environment variables where the user has not set them."""
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def init_ray(address: str | None = None, *, num_cpus: int | None = None, log_to_driver: bool = False) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), or start a local Ray; no-op if already initialised.

    Returns True when this call started or joined Ray (so the caller may shut it down).
    """
    set_ray_env()
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        logger.info("joining Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=log_to_driver)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=log_to_driver)
    return True
