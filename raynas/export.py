"""Export a subnet of a trained supernet as a standalone PyTorch model.

The subnet's BatchNorm statistics are re-calibrated first, exactly as the search's
:class:`raynas.SupernetEvaluator` does, so the exported model computes what the search
measured.

Formats:

Every format records the preprocessing the model expects (input shape and layout, pixel
scale, per-channel mean and std, how images are resized, class count; see
:func:`raynas.data.preprocessing`): ``preprocessing.json`` among a TorchScript file's extra
files, ``raynas.preprocessing`` in an ONNX model's ``metadata_props``, a ``preprocessing``
entry in a state-dict file. :func:`read_metadata` reads it from any of them.

- ``torchscript``: ``torch.jit.script`` of the extracted subnet, saved with the
  architecture as an extra file (``arch.json``). It needs only ``torch`` to run::

      model = torch.jit.load("subnet.pt"); logits = model(images)

- ``torch_export``: a ``torch.export`` program (``.pt2``, the successor of TorchScript,
  which torch 2.14 deprecates), with a dynamic batch axis and the same extra files
  (``arch.json``, ``input_shape.json``, ``preprocessing.json``). It needs only ``torch``::

      model = torch.export.load("subnet.pt2").module(); logits = model(images)

  ``torch.export.load`` unpickles parts of the file: load only files you trust.
  :func:`read_metadata` reads the extra files from the archive without loading it.
- ``state_dict``: a weights-only torch file ``{"format": "raynas.subnet", "state_dict":
  ..., "arch": ..., "space": ..., "space_kwargs": ..., "num_classes": ..., "input_shape": ...}``;
  :func:`load_subnet` rebuilds the module from it (this one needs raynas to rebuild).
- ``onnx``: ``torch.onnx.export`` (dynamo) with a dynamic batch axis, for inputs of the
  subnet's resolution (``input_shape``); needs the ``onnx`` and ``onnxscript`` packages
  (``pip install onnx onnxscript``, or the ``raynas[onnx]`` extra).

Example::

    from raynas.export import export_subnet
    export_subnet("runs/tiny", {"resolution": 16, ...}, "subnet.pt", format="torchscript")
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from raynas.checks import check_choice
from raynas.errors import ConfigError, InvalidCheckpoint

__all__ = ["FORMATS", "SUBNET_FORMAT", "PREPROCESSING_FILE", "export_subnet", "export_program", "prepare_subnet",
           "recorded_data", "load_arch", "load_subnet", "read_metadata", "ExportResult"]

logger = logging.getLogger(__name__)

FORMATS = ("state_dict", "torchscript", "torch_export", "onnx")
SUBNET_FORMAT = "raynas.subnet"
PREPROCESSING_FILE = "preprocessing.json"  # the TorchScript extra file
_ONNX_HINT = "pip install onnx onnxscript (or pip install 'raynas[onnx]' onnxscript)"


class ExportResult(dict):
    """What was written: ``path``, ``format``, ``arch``, ``input_shape``, ``flops``, ``params``, ``preprocessing``."""

    @property
    def path(self) -> Path:
        return self["path"]


def load_arch(value: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    """An architecture from a dict, a JSON object text, or a JSON file.

    A file may hold the architecture itself or a ``best.json`` of ``raynas search``
    (``{"arch": {...}, ...}``).

    Raises:
        ConfigError: not a dict, malformed JSON (the message names the file, line and
            column), or a missing file.
    """
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"arch must be a dict, JSON text or a JSON file path, got {type(value).__name__}")
    text = os.fspath(value)
    stripped = text.strip()
    if stripped.startswith("{"):
        source, content = "--arch text", stripped
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"arch {text!r} is neither a JSON object nor an existing file")
        source, content = f"arch file {str(path)!r}", path.read_text()
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(data, dict) and isinstance(data.get("arch"), dict):
        data = data["arch"]
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{source} must hold a JSON object mapping choice names to values, got {type(data).__name__}")
    return data


def prepare_subnet(
    checkpoint: str | os.PathLike,
    arch: Mapping[str, Any],
    *,
    calibrate: bool = True,
    dataset: str | None = None,
    data_dir: str | None = None,
    calibration_batches: int = 4,
    batch_size: int = 128,
    seed: int = 0,
    calib_images: int | None = None,
    skip_corrupt: bool = False,
    data: Any = None,
):
    """``(supernet, subnet, canonical arch)``: the supernet with ``arch`` active and its BN
    statistics re-calibrated exactly as :class:`raynas.SupernetEvaluator` does (same data,
    images, batches, resolution and seed), both in eval mode, and the standalone subnet
    extracted from it.

    Training does not track BN statistics (every subnet needs its own), so an export
    without calibration (``calibrate=False``) keeps whatever the checkpoint holds.
    ``dataset`` (and ``data_dir``) default to the ones the supernet was trained on (its
    checkpoint records them); ``data`` takes Dataset objects (:func:`raynas.data.from_datasets`).
    """
    from raynas.checkpoint import open_checkpoint
    from raynas.nn import recalibrate_bn

    saved = open_checkpoint(checkpoint)
    net = saved.supernet()
    canonical = net.space.canonical(net.space.validate(dict(arch)))
    net.set_active(canonical)
    if calibrate:
        from raynas.data import EvalData, load
        from raynas.evaluate.supernet import check_data_for_checkpoint

        if data is None:
            dataset, data_dir = recorded_data(saved, dataset, data_dir)
            if dataset is None:
                raise ConfigError(
                    f"checkpoint {os.fspath(checkpoint)!r} records no training data set: pass dataset= (--dataset), "
                    "the data its BN statistics are re-calibrated on, or calibrate=False (--no-calibrate)"
                )
        check_data_for_checkpoint(saved.space, dataset if data is None else data.name, data_dir=data_dir, data=data,
                                  source=f"checkpoint {saved.path!r}")
        if data is None:
            data = load(dataset, seed=seed, data_dir=data_dir, augment="none", skip_corrupt=skip_corrupt)
        evaluation = EvalData(data, calib_images=calib_images, calibration_batches=calibration_batches,
                              batch_size=batch_size, seed=seed)
        recalibrate_bn(net, evaluation.calibration(int(net.space.input_shape(canonical)[-1])),
                       method=saved.meta.get("bn_method", "torch"))
    net.eval()
    subnet = net.extract(canonical).eval()
    return net, subnet, canonical


def recorded_data(saved: Any, dataset: str | None, data_dir: str | None) -> tuple[Any, Any]:
    """``(dataset, data_dir)``: the given ones, else those the checkpoint ``saved``
    (:func:`raynas.checkpoint.open_checkpoint`) records: its data set, and the folder of its
    training configuration when the data set is the one it was trained on."""
    trained = saved.dataset
    if dataset is None:
        dataset = trained
    if data_dir is None and dataset == trained:
        data_dir = (saved.meta.get("train_config") or {}).get("data_dir")
    return dataset, data_dir


def export_subnet(
    checkpoint: str | os.PathLike,
    arch: str | os.PathLike | Mapping[str, Any],
    out: str | os.PathLike,
    format: str = "torchscript",
    *,
    overwrite: bool = True,
    opset_version: int | None = None,
    calibrate: bool = True,
    dataset: str | None = None,
    data_dir: str | None = None,
    calib_images: int | None = None,
    skip_corrupt: bool = False,
    data: Any = None,
) -> ExportResult:
    """Extract ``arch`` from the supernet in ``checkpoint`` and write it to ``out`` in ``format``.

    Args:
        checkpoint: a supernet file or a ``raynas train --out`` folder.
        arch: the architecture (dict, JSON text, JSON file or a search's ``best.json``).
        out: the file to write (its folder is created).
        format: one of :data:`FORMATS`.
        overwrite: replace an existing ``out`` (``False``: refuse).
        opset_version: ONNX opset (default: the exporter's).
        calibrate, dataset, data_dir, calib_images, skip_corrupt, data: BN re-calibration
            before extraction, as a search's evaluator does it (see :func:`prepare_subnet`);
            with the search's settings the exported model computes exactly what it measured.

    Raises:
        ConfigError: unknown format, bad arch text or an existing ``out`` with ``overwrite=False``;
            ``onnx`` without the ``onnx`` package says how to install it.
        InvalidArchitecture: ``arch`` does not belong to the checkpoint's space.
        InvalidCheckpoint: the checkpoint cannot be read.
    """
    check_choice(None, "format", format, FORMATS)
    if format == "onnx":
        missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(f"ONNX export needs the {' and '.join(missing)} package(s), not installed here: "
                              f"{_ONNX_HINT}")
    arch = load_arch(arch)
    out = Path(out).expanduser()
    if out.is_dir():
        raise ConfigError(f"out {str(out)!r} is a folder; give a file name such as {str(out / 'subnet.pt')!r}")
    if out.exists() and not overwrite:
        raise ConfigError(f"out {str(out)!r} already exists; pass overwrite=True (--overwrite) to replace it")
    import torch

    net, subnet, canonical = prepare_subnet(checkpoint, arch, calibrate=calibrate, dataset=dataset,
                                            data_dir=data_dir, calib_images=calib_images, skip_corrupt=skip_corrupt,
                                            data=data)
    space = net.space
    shape = tuple(int(v) for v in space.input_shape(canonical))
    preprocessing = _preprocessing(checkpoint, dataset, shape, net.num_classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "torchscript":
        with warnings.catch_warnings():  # TorchScript is what this format promises, deprecated or not
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
            scripted = torch.jit.script(subnet)
            scripted.save(str(out), _extra_files=_extra_files(canonical, shape, preprocessing))
    elif format == "torch_export":
        torch.export.save(export_program(subnet, shape), str(out),
                          extra_files=_extra_files(canonical, shape, preprocessing))
    elif format == "state_dict":
        torch.save({
            "format": SUBNET_FORMAT, "version": 1, "arch": dict(canonical), "space": space.name,
            "space_kwargs": dict(space.kwargs), "num_classes": net.num_classes, "input_shape": list(shape),
            "state_dict": {k: v.detach().cpu() for k, v in subnet.state_dict().items()},
            "preprocessing": json.dumps(preprocessing, sort_keys=True),
        }, out)
    else:
        example = torch.zeros((1, *shape))
        kwargs: dict[str, Any] = {"input_names": ["images"], "output_names": ["logits"],
                                  "dynamic_shapes": {"x": {0: torch.export.Dim("batch", min=1)}}}
        if opset_version is not None:
            kwargs["opset_version"] = opset_version
        chatter = io.StringIO()  # the exporter prints its steps; keep them for --verbose only
        try:
            with contextlib.redirect_stdout(chatter):
                program = torch.onnx.export(subnet, (example,), dynamo=True, **kwargs)
        except ImportError as exc:
            raise ConfigError(f"ONNX export failed for a missing package ({exc}): {_ONNX_HINT}") from exc
        finally:
            logger.debug("torch.onnx.export: %s", chatter.getvalue().strip())
        program.save(str(out))
        _set_onnx_metadata(out, {"raynas.preprocessing": json.dumps(preprocessing, sort_keys=True),
                                 "raynas.arch": json.dumps(canonical, sort_keys=True)})
    flops, params = float(space.flops(canonical)), float(space.params(canonical))
    logger.info("exported %s subnet (%.4g FLOPs, %.4g params) to %s", format, flops, params, out)
    return ExportResult(path=out, format=format, arch=dict(canonical), input_shape=shape, flops=flops, params=params,
                        preprocessing=preprocessing)


def export_program(module: Any, input_shape: Sequence[int]):
    """``torch.export.export`` of ``module`` for inputs of ``input_shape`` (C, H, W) with a
    dynamic batch axis: the program ``format="torch_export"`` saves."""
    import torch

    # batch 2 in the example: a batch of 1 would be specialised to a constant
    return torch.export.export(module, (torch.zeros((2, *input_shape)),),
                               dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))


def _extra_files(arch: Mapping[str, Any], shape: tuple[int, ...], preprocessing: Mapping[str, Any]) -> dict[str, str]:
    """The JSON files a TorchScript or ``torch.export`` file carries beside the model."""
    return {"arch.json": json.dumps(dict(arch), sort_keys=True), "input_shape.json": json.dumps(list(shape)),
            PREPROCESSING_FILE: json.dumps(dict(preprocessing), sort_keys=True)}


def _exported_program_file(path: Path, name: str) -> str | None:
    """The extra file ``name`` of a ``torch.export`` archive, read from the zip (nothing unpickled);
    None when ``path`` is not such an archive."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(n.endswith("/models/model.json") or n.endswith("/archive_format") for n in names):
                return None
            entry = next((n for n in names if n.endswith(f"/extra/{name}")), None)
            return archive.read(entry).decode() if entry else ""
    except (zipfile.BadZipFile, OSError, KeyError):
        return None


def _preprocessing(checkpoint: str | os.PathLike, dataset: str | None, shape: tuple[int, ...],
                   num_classes: int) -> dict[str, Any]:
    """What an exported model expects: input shape and layout, scale, mean/std, resize, class count."""
    from raynas.checkpoint import open_checkpoint
    from raynas.data import preprocessing

    trained_on = dataset or open_checkpoint(checkpoint).dataset
    out: dict[str, Any] = {"input_shape": list(shape), "channels": shape[0], "resolution": list(shape[1:]),
                           "layout": "NCHW float32", "num_classes": int(num_classes),
                           "formula": "x = (pixel * scale - mean) / std, per channel"}
    if trained_on is None:
        out["note"] = "the checkpoint records no data set: normalisation unknown"
        return out
    try:
        out.update(preprocessing(trained_on))
    except ConfigError:
        out.update(dataset=trained_on, note="a data set of the user's own: normalise as it was trained")
    return out


def _set_onnx_metadata(path: Path, props: Mapping[str, str]) -> None:
    """Add ``props`` to an ONNX file's ``metadata_props`` (read back with ``onnx.load(path).metadata_props``)."""
    import onnx

    model = onnx.load(str(path))
    existing = {p.key: p for p in model.metadata_props}
    for key, value in props.items():
        entry = existing.get(key) or model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The preprocessing an exported file records (TorchScript, ``torch.export``, ONNX or state dict), as a dict.

    Raises:
        InvalidCheckpoint: the file is none of those, or records none.
    """
    import torch

    path = Path(path)
    text: str | None = None
    if path.suffix == ".onnx":
        import onnx

        text = {p.key: p.value for p in onnx.load(str(path)).metadata_props}.get("raynas.preprocessing")
    elif (exported := _exported_program_file(path, PREPROCESSING_FILE)) is not None:
        text = exported or None
    else:
        try:
            files = {PREPROCESSING_FILE: ""}
            torch.jit.load(str(path), map_location="cpu", _extra_files=files)
            text = files[PREPROCESSING_FILE] or None
        except Exception:  # noqa: BLE001 - not TorchScript: a state-dict subnet file
            try:
                payload = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
                raise InvalidCheckpoint(f"{os.fspath(path)!r} is not an exported raynas model: {exc}") from exc
            text = payload.get("preprocessing") if isinstance(payload, dict) else None
    if not text:
        raise InvalidCheckpoint(f"{os.fspath(path)!r} records no preprocessing (exported by an older raynas?)")
    return json.loads(text)


def load_subnet(path: str | os.PathLike):
    """Rebuild the module saved by ``export_subnet(..., format="state_dict")`` (eval mode)."""
    import torch

    from raynas.checkpoint import space_from_record

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        raise InvalidCheckpoint(f"{os.fspath(path)!r} is not a readable subnet file: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != SUBNET_FORMAT:
        raise InvalidCheckpoint(f"{os.fspath(path)!r} is not a raynas subnet file (format {SUBNET_FORMAT!r})")
    space = space_from_record(payload["space"], payload["space_kwargs"], source=f"subnet file {os.fspath(path)!r}")
    module = space.build_supernet(payload["num_classes"]).extract(payload["arch"])
    module.load_state_dict(payload["state_dict"])
    return module.eval()
