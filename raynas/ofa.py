"""Once-for-all's published supernets in raynas: import the weights, convert architectures.

Once-for-all (Cai et al. 2020) publishes three supernets trained on ImageNet, each a torch
file holding ``{"state_dict": ...}``:

=====================================  ==================  ===================
net id                                 raynas space        space arguments
=====================================  ==================  ===================
``ofa_mbv3_d234_e346_k357_w1.0``       ``ofa-mbv3``        ``width_mult=1.0``
``ofa_mbv3_d234_e346_k357_w1.2``       ``ofa-mbv3``        ``width_mult=1.2``
``ofa_proxyless_d234_e346_k357_w1.3``  ``ofa-proxyless``   ``width_mult=1.3``
=====================================  ==================  ===================

:func:`import_ofa` reads such a file (either generation of key names: the older
``blocks.N.mobile_inverted_conv...`` with single-level ``bn.`` / ``conv.weight``, or the
newer ``blocks.N.conv...`` with ``bn.bn.`` / ``conv.conv.weight``), checks every key and
shape against the raynas supernet, and returns that supernet with the weights loaded
(optionally saved as a raynas checkpoint folder). For any subnet its logits are those of
OFA's ``set_active_subnet(ks=..., e=..., d=...)``.

:func:`to_ofa` / :func:`from_ofa` convert between raynas's flat architecture dicts and
OFA's ``{"ks": [...], "e": [...], "d": [...]}`` lists (one kernel size and expand ratio per
block, inactive blocks included; one depth per stage) plus the resolution ``"r"``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Mapping

import torch

from raynas.errors import ConfigError, InvalidArchitecture, InvalidCheckpoint

__all__ = ["NETS", "import_ofa", "convert_state_dict", "read_weights", "to_ofa", "from_ofa"]

logger = logging.getLogger(__name__)

NETS: dict[str, tuple[str, dict[str, Any]]] = {
    "ofa_mbv3_d234_e346_k357_w1.0": ("ofa-mbv3", {"width_mult": 1.0}),
    "ofa_mbv3_d234_e346_k357_w1.2": ("ofa-mbv3", {"width_mult": 1.2}),
    "ofa_proxyless_d234_e346_k357_w1.3": ("ofa-proxyless", {"width_mult": 1.3}),
}
"""OFA's published net ids -> (raynas space name, space arguments)."""

_BN_STATS = ("running_mean", "running_var", "num_batches_tracked")
_SE = {"reduce_weight": "fc.reduce.weight", "reduce_bias": "fc.reduce.bias",
       "expand_weight": "fc.expand.weight", "expand_bias": "fc.expand.bias"}
_PARTS = {"expand": "inverted_bottleneck", "depthwise": "depth_conv", "project": "point_linear"}


def _check_net_id(net_id: str) -> tuple[str, dict[str, Any]]:
    if net_id not in NETS:
        raise ConfigError(f"net_id must be one of {', '.join(NETS)}; got {net_id!r}")
    return NETS[net_id]


def _space(net_id: str, num_classes: int = 1000):
    import search_spaces

    name, kwargs = _check_net_id(net_id)
    return search_spaces.get(name, num_classes=num_classes, **kwargs)


# -- key names --------------------------------------------------------------------------------
def _normalise(key: str) -> str:
    """One spelling for both generations: ``mobile_inverted_conv`` -> ``conv``, doubled names collapsed."""
    key = key.replace(".mobile_inverted_conv.", ".conv.")
    return key.replace(".conv.conv.weight", ".conv.weight").replace(".bn.bn.", ".bn.").replace(
        ".linear.linear.", ".linear.")


def _ofa_key(key: str, net: Any) -> str:
    """OFA's (newer-generation) name of the raynas supernet's state-dict entry ``key``."""
    parts = key.split(".")
    if parts[0] == "stem":
        return "first_conv." + ("conv.weight" if parts[1] == "conv" else "bn." + parts[-1])
    if parts[0] == "first_block":
        return f"blocks.0.conv.{_PARTS[parts[1]]}." + ("conv.weight" if parts[2] == "conv" else "bn." + parts[-1])
    if parts[0] == "stages":
        stage, index = int(parts[1]), int(parts[2])
        block = 1 + sum(s.max_depth for s in net.spec.stages[:stage]) + index
        prefix = f"blocks.{block}.conv."
        if parts[3] == "se":
            return prefix + "depth_conv.se." + _SE[parts[4]]
        part = _PARTS[parts[3]]
        if parts[4] == "norm":
            return f"{prefix}{part}.bn.bn.{parts[-1]}"
        if parts[5] == "transforms":
            return f"{prefix}{part}.conv.{parts[6]}_matrix"
        return f"{prefix}{part}.conv.conv.weight"
    if parts[0] in ("head", "pooled"):
        # MobileNetV3: final_expand_layer (head) then feature_mix_layer (pooled); ProxylessNAS: its
        # feature_mix_layer is the head conv (before pooling).
        name = "final_expand_layer" if parts[0] == "head" and net.spec.pooled_widths else "feature_mix_layer"
        return f"{name}." + ("conv.weight" if parts[2] == "conv" else "bn." + parts[-1])
    if parts[0] == "classifier":
        return "classifier.linear." + parts[1]
    raise ValueError(f"no once-for-all name for state-dict key {key!r}")


def ofa_key_names(net: Any) -> dict[str, str]:
    """raynas state-dict key -> OFA's newer-generation key, for every entry of ``net``."""
    return {key: _ofa_key(key, net) for key in net.state_dict()}


# -- reading the file -------------------------------------------------------------------------
def read_weights(path: str | os.PathLike) -> dict[str, Any]:
    """The state dict of a once-for-all weights file (``{"state_dict": ...}`` or a bare state dict).

    Loaded with ``torch.load(weights_only=True)``. Raises :class:`~raynas.InvalidCheckpoint`
    (one line) for a missing, truncated, corrupt or foreign file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InvalidCheckpoint(f"weights file {path!r} does not exist or is not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InvalidCheckpoint(
            f"weights file {path!r} could not be read (truncated, corrupt, or not a weights-only torch file): "
            f"{type(exc).__name__}: {first}"
        ) from exc
    if isinstance(payload, Mapping) and isinstance(payload.get("state_dict"), Mapping):
        state = payload["state_dict"]
    elif isinstance(payload, Mapping) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state = payload
    else:
        found = sorted(map(str, payload))[:5] if isinstance(payload, Mapping) else type(payload).__name__
        raise InvalidCheckpoint(
            f"weights file {path!r} is not a once-for-all weights file: expected {{'state_dict': ...}} or a state "
            f"dict of tensors, found {found}"
        )
    return dict(state)


def convert_state_dict(state: Mapping[str, Any], net: Any, *, net_id: str = "", source: str = "the file"
                       ) -> tuple[dict[str, torch.Tensor], str]:
    """OFA's state dict -> ``net``'s, every key and shape checked; also the key generation found.

    Accepts either generation of OFA's key names (and a mixture). Entries
    ``num_batches_tracked`` may be missing (they do not change the function; set to 0).

    Raises:
        InvalidCheckpoint: one line naming the first key that does not fit: a key ``net``
            has no place for, a tensor of another shape, or a key ``net`` needs that is missing.
    """
    what = net_id or net.space.name
    expected = net.state_dict()
    by_ofa = {_normalise(ofa): key for key, ofa in ofa_key_names(net).items()}
    converted: dict[str, torch.Tensor] = {}
    seen: dict[str, str] = {}
    doubled = False
    for ofa_key, value in state.items():
        norm = _normalise(str(ofa_key))
        key = by_ofa.get(norm)
        if key is None:
            raise InvalidCheckpoint(
                f"{source}: key {ofa_key!r} is not a key of {what} (a foreign file, or the weights of another net id?)"
            )
        if norm in seen:
            raise InvalidCheckpoint(f"{source}: keys {seen[norm]!r} and {ofa_key!r} name the same weight of {what}")
        seen[norm] = str(ofa_key)
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise InvalidCheckpoint(
                f"{source}: key {ofa_key!r} has shape {got}, {what} expects {tuple(expected[key].shape)} "
                f"(the weights of another net id or width?)"
            )
        doubled = doubled or ".bn.bn." in str(ofa_key) or ".conv.conv.weight" in str(ofa_key)
        converted[key] = value
    missing = [k for k in expected if k not in converted and not k.endswith("num_batches_tracked")]
    if missing:
        raise InvalidCheckpoint(
            f"{source}: lacks key {ofa_key_names(net)[missing[0]]!r} of {what} ({len(missing)} of "
            f"{len(expected)} missing: a truncated state dict, or another net?)"
        )
    for key in expected:
        if key not in converted:  # num_batches_tracked only
            converted[key] = torch.zeros_like(expected[key])
    return converted, "new" if doubled else "old"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_ofa(weights: str | os.PathLike, net_id: str, *, out: str | os.PathLike | None = None,
               overwrite: bool = False):
    """Build the raynas supernet of once-for-all's ``net_id`` and load its published ``weights`` file.

    Args:
        weights: the file OFA publishes for ``net_id`` (see :data:`NETS`).
        net_id: one of :data:`NETS`.
        out: if given, a folder to write the raynas checkpoint to (``out/supernet.pt``), which
            ``raynas search --checkpoint``, ``export``, ``latency`` and ``predictor`` take and
            :meth:`raynas.Supernet.load` rebuilds alone. An existing folder with results is
            replaced only with ``overwrite``.
        overwrite: replace the results already in ``out``.

    Returns:
        The supernet (``raynas.nn.ElasticMobileNet``, CPU, float32, eval mode), with
        ``checkpoint_meta`` describing the import.

    Raises:
        ConfigError: unknown ``net_id``, or ``out`` holds other results.
        InvalidCheckpoint: an unreadable, truncated or foreign file, or the weights of
            another net (one line naming the first key that does not fit). Nothing is
            written in either case.
    """
    _check_net_id(net_id)
    path = os.path.abspath(os.fspath(weights))
    state = read_weights(path)
    classifier = state.get("classifier.linear.weight", state.get("classifier.linear.linear.weight"))
    num_classes = int(classifier.shape[0]) if isinstance(classifier, torch.Tensor) and classifier.dim() == 2 else 1000
    net = _space(net_id, num_classes).build_supernet()
    converted, generation = convert_state_dict(state, net, net_id=net_id, source=f"weights file {path!r}")
    net.load_state_dict(converted)
    net.eval()
    meta = {
        "imported_from": {"source": "once-for-all", "net_id": net_id, "file": path, "sha256": _sha256(path),
                          "key_names": generation},
        "dataset": "imagenet",
        "bn_method": "ofa",
    }
    net.checkpoint_meta = meta
    logger.info("imported %s from %s (%s key names, %d entries)", net_id, path, generation, len(converted))
    if out is not None:
        from raynas._outdir import prepare_out_dir
        from raynas.checkpoint import CHECKPOINT_FILENAME

        folder = prepare_out_dir(out, resume=False, overwrite=overwrite, marker=CHECKPOINT_FILENAME)
        written = net.save(folder, **meta)
        logger.info("wrote %s", written)
    return net


# -- architectures ----------------------------------------------------------------------------
def _stages(arch: Mapping[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """``(depth key, kernel keys, expand keys)`` per stage, read from an ofa-style arch's keys."""
    stages = []
    i = 1
    while f"s{i}.depth" in arch:
        kernels = []
        while f"s{i}.b{len(kernels)}.kernel" in arch:
            kernels.append(f"s{i}.b{len(kernels)}.kernel")
        stages.append((f"s{i}.depth", kernels, [k.replace(".kernel", ".expand") for k in kernels]))
        i += 1
    return stages


def to_ofa(arch: Mapping[str, Any]) -> dict[str, Any]:
    """raynas's flat architecture of ``ofa-mbv3`` / ``ofa-proxyless`` -> OFA's lists.

    Returns ``{"ks": [...], "e": [...], "d": [...], "r": resolution}``: a kernel size and an
    expand ratio for every elastic block (inactive ones included, as OFA's
    ``set_active_subnet`` takes them), a depth per stage.
    """
    stages = _stages(arch)
    if not stages or "resolution" not in arch:
        raise InvalidArchitecture(
            f"to_ofa needs an ofa-mbv3 / ofa-proxyless architecture (keys 'resolution', 's1.depth', "
            f"'s1.b0.kernel', ...); got keys {sorted(arch)[:6]}"
        )
    return {
        "ks": [arch[k] for _, kernels, _ in stages for k in kernels],
        "e": [arch[k] for _, _, expands in stages for k in expands],
        "d": [arch[depth] for depth, _, _ in stages],
        "r": arch["resolution"],
    }


def from_ofa(config: Mapping[str, Any], space: Any = "ofa_mbv3_d234_e346_k357_w1.0",
             resolution: int | None = None) -> dict[str, Any]:
    """OFA's ``{"ks", "e", "d"}`` lists (plus ``"r"`` or ``"image_size"``) -> raynas's canonical arch.

    Args:
        config: what OFA's ``sample_active_subnet``, its evolution finder or a specialised
            net's description give: ``ks`` and ``e`` with one entry per elastic block, ``d``
            with one per stage, and the resolution as ``r`` or ``image_size`` (an int or a
            one-element list). ``wid: None`` is accepted; other keys are refused. For a
            stage with one block only (ProxylessNAS's last) any depth means that block, as
            in OFA's ``set_active_subnet``; other depths must be among the space's.
        space: the raynas space, its registry name, or an OFA net id.
        resolution: the resolution when ``config`` holds none.

    Raises:
        InvalidArchitecture: lists of the wrong length, or values the space does not allow.
    """
    import search_spaces

    if isinstance(space, str):
        space = _space(space) if space in NETS else search_spaces.get(space)
    known = {"ks", "e", "d", "r", "image_size", "wid"}
    unknown = sorted(set(config) - known)
    if unknown or config.get("wid") is not None:
        raise InvalidArchitecture(f"unknown OFA architecture key(s) {unknown or ['wid']}; valid: ks, e, d, r (or image_size)")
    stages = _stages(space.largest())
    sizes = {"ks": sum(len(k) for _, k, _ in stages), "e": sum(len(k) for _, k, _ in stages), "d": len(stages)}
    for name, size in sizes.items():
        value = config.get(name)
        if not isinstance(value, (list, tuple)) or len(value) != size:
            raise InvalidArchitecture(f"OFA architecture {name!r} must be a list of {size} values for {space.name!r}, "
                                      f"got {value!r}")
    r = config.get("r", config.get("image_size", resolution))
    if isinstance(r, (list, tuple)) and len(r) == 1:
        r = r[0]
    if r is None:
        raise InvalidArchitecture("OFA architecture has no resolution: give 'r' (or 'image_size') or resolution=")
    arch: dict[str, Any] = {"resolution": r}
    kernels = iter(config["ks"])
    expands = iter(config["e"])
    for (depth_key, kernel_keys, expand_keys), depth in zip(stages, config["d"]):
        fixed = space.choices[depth_key]
        arch[depth_key] = fixed[0] if len(fixed) == 1 and isinstance(depth, int) and depth >= fixed[0] else depth
        for kernel_key, expand_key in zip(kernel_keys, expand_keys):
            arch[kernel_key] = next(kernels)
            arch[expand_key] = next(expands)
    return space.canonical(arch)
