"""What a training run reads, checked before it starts: the data set, the channels the space
takes, and how its batches are prepared (resolutions, loader workers)."""

from __future__ import annotations

from typing import Any

from raynas.errors import ConfigError
from raynas.train.config import TrainConfig

__all__ = ["check_training_input", "check_channels", "load_data", "loader_resolutions", "loader_workers"]


def check_training_input(config: TrainConfig, data: Any = None) -> None:
    """Raise, before anything is written or started, on data that cannot train ``config``'s space."""
    import search_spaces

    from raynas.data import CUSTOM, Data

    if data is not None and not isinstance(data, Data):
        raise ConfigError(f"data must be a raynas.data.Data (raynas.data.from_datasets(train, val, num_classes)), got "
                          f"{type(data).__name__}")
    if data is not None and config.dataset != CUSTOM:
        raise ConfigError(f"data= was given, so TrainConfig.dataset must be {CUSTOM!r}, got {config.dataset!r}")
    space = search_spaces.get(config.space, **config.space_kwargs)
    if config.method == "dna" and data is not None:
        raise ConfigError("method 'dna' trains on block features of an in-memory data set named by "
                          "TrainConfig.dataset; data= applies to the other methods")
    if data is None and config.download:
        return  # the workers download it; nothing to read here yet
    check_channels(space, data if data is not None else load_data(config, check_images=True))


def loader_resolutions(space: Any, data: Any, per_batch: bool) -> int | tuple[int, ...] | None:
    """The resolutions training batches are prepared at: None for in-memory data (the network
    resizes); for image folders every resolution of the space (one drawn per batch) when
    ``per_batch``, else the largest (resized on the device per subnet)."""
    if not data.resizes:
        return None
    values = space.choices.get("resolution")
    if values is None:  # a space of one input size
        return int(space.input_shape(space.largest())[-1])
    return tuple(int(v) for v in values) if per_batch else int(max(values))


def check_channels(space: Any, data: Any) -> None:
    """Raise when ``data``'s images have another channel count than the subnets of ``space`` take."""
    wanted = int(space.input_shape(space.smallest())[0])
    if wanted != data.in_channels:
        raise ConfigError(
            f"data set {data.name!r} has {data.in_channels}-channel images but space {space.name!r} takes "
            f"in_channels={wanted}; build the space with in_channels={data.in_channels} (--space-option "
            f"in_channels={data.in_channels}, or TrainConfig(space_kwargs={{'in_channels': {data.in_channels}}}))"
        )


def load_data(cfg: TrainConfig, *, download: bool = False, check_images: bool = False) -> Any:
    """The data set ``cfg`` names (not ``custom``: that one comes as Dataset objects)."""
    from raynas.data import CUSTOM, load

    if cfg.dataset == CUSTOM:
        raise ConfigError(f"TrainConfig.dataset={CUSTOM!r} takes its data as Dataset objects: "
                          "train(config, out, data=raynas.data.from_datasets(train, val, num_classes))")
    return load(cfg.dataset, seed=cfg.seed, data_dir=cfg.data_dir, download=download, augment=cfg.augment,
                skip_corrupt=cfg.skip_corrupt, check_images=check_images)


def loader_workers(cfg: TrainConfig, data: Any) -> int:
    """``cfg.loader_workers``, or 2 for image folders and 0 for in-memory data."""
    if cfg.loader_workers is not None:
        return cfg.loader_workers
    return 2 if data.resizes else 0
