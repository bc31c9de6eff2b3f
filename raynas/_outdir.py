"""Output folders: refuse to mix two runs in one folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from raynas.errors import ConfigError


def check_out_dir(path: str | os.PathLike, *, resume: bool, overwrite: bool, marker: str) -> Path:
    """What :func:`prepare_out_dir` would refuse, refused the same way, but nothing created or deleted."""
    out = Path(path).expanduser()
    if resume and overwrite:
        raise ConfigError("resume and overwrite are mutually exclusive; choose one")
    if resume:
        if not (out / marker).exists():
            raise ConfigError(f"cannot resume: {str(out)!r} holds no previous run ({marker} is missing)")
        return out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {str(out)!r} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not (out / marker).exists():
            raise ConfigError(
                f"output folder {str(out)!r} is not empty and holds no raynas results ({marker}); "
                "choose an empty or new folder"
            )
        if not overwrite:
            raise ConfigError(
                f"output folder {str(out)!r} already holds results ({marker}); pass --overwrite to replace them "
                "or --resume to continue"
            )
    return out


def prepare_out_dir(path: str | os.PathLike, *, resume: bool, overwrite: bool, marker: str) -> Path:
    """Create ``path`` for a new run, or check it for ``resume``.

    A folder that already holds ``marker`` (a previous run's results) is refused
    unless ``resume`` (continue it) or ``overwrite`` (delete it first) is given.
    """
    out = check_out_dir(path, resume=resume, overwrite=overwrite, marker=marker)
    if resume:
        return out
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)  # check_out_dir let it through: it holds marker and overwrite was given
    out.mkdir(parents=True, exist_ok=True)
    return out


def storage_location(path: str | os.PathLike) -> str:
    """A Ray storage path as Ray Train and Tune take it: a URI (``s3://...``) as is, a local path made absolute."""
    text = os.fspath(path)
    return text if "://" in text else os.path.abspath(text)
