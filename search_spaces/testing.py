"""The search-space contract suite, shipped with the package (as :mod:`strategies.testing` ships
the strategy one), so a user's own space is checked exactly like the built-in ones.

Every check takes a space (and, for spaces with a supernet, the supernet built from it)
and raises :class:`~raynas.testing.ContractError` (an ``AssertionError``) when the space
breaks the contract, or :class:`~raynas.testing.NotApplicable` when the check does not
apply. :func:`check_space` runs them all::

    from search_spaces import testing
    testing.check_space(my_space)     # raises on the first broken rule

The exactness checks (the extracted subnet computes what the supernet computes; ``flops``
and ``params`` equal what ``FlopCounterMode`` and the extracted subnet count) run on the
smallest, the largest and a few seeded random architectures. How many, and at what batch
size, follows :func:`budget_for`, which reads the space's own cost hint, the FLOPs of its
largest architecture: heavy spaces (ImageNet-sized MobileNets) run at batch 1 with 3
random architectures, all at the smallest resolution.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from raynas.checks import check_positive_int
from raynas.errors import InvalidArchitecture
from raynas.export import export_program
from raynas.testing import ContractError, NotApplicable

__all__ = [
    "ATOL",
    "RTOL",
    "HEAVY_FLOPS",
    "Budget",
    "budget_for",
    "contract_archs",
    "contract_largest",
    "randomize",
    "check_validate_rejects_unknown_key",
    "check_validate_rejects_missing_key",
    "check_validate_rejects_value_outside_choices",
    "check_canonical_is_idempotent",
    "check_canonical_ignores_inactive_blocks",
    "check_extracted_subnet_equals_supernet",
    "check_output_depends_on_arch",
    "check_flops_and_params",
    "check_extracted_subnet_is_standalone",
    "check_torchscript",
    "check_torch_export",
    "check_sort_channels",
    "check_set_active_rejects_invalid_arch",
    "check_checkpoint_round_trip",
    "SPACE_CHECKS",
    "SUPERNET_CHECKS",
    "check_space",
]

ATOL = 1e-5
"""Absolute tolerance between supernet and subnet outputs."""

RTOL = 0.0
"""Relative tolerance between supernet and subnet outputs."""

HEAVY_FLOPS = 1e8
"""A space whose largest architecture costs more FLOPs than this gets the heavy budget."""


@dataclass(frozen=True)
class Budget:
    """How much the exactness checks run.

    Args:
        batch_size: inputs per forward pass.
        num_random: seeded random architectures besides the smallest and the largest.
        smallest_resolution: run every architecture at the smallest value of the space's
            ``"resolution"`` key (when it has one); convolutions do not depend on the input
            size, so this checks the same weights at a fraction of the cost.
    """

    batch_size: int = 2
    num_random: int = 20
    smallest_resolution: bool = False

    def __post_init__(self) -> None:
        check_positive_int("Budget", "batch_size", self.batch_size)
        check_positive_int("Budget", "num_random", self.num_random, allow_zero=True)


LIGHT = Budget()
HEAVY = Budget(batch_size=1, num_random=3, smallest_resolution=True)


def budget_for(space: Any) -> Budget:
    """:data:`HEAVY` when ``space.flops(space.largest())`` exceeds :data:`HEAVY_FLOPS`, else :data:`LIGHT`."""
    try:
        flops = space.flops(space.largest())
    except NotImplementedError:
        return LIGHT
    return HEAVY if flops > HEAVY_FLOPS else LIGHT


def _sized(space: Any, budget: Budget, arch: dict) -> dict:
    resolutions = space.choices.get("resolution")
    if budget.smallest_resolution and resolutions:
        return space.canonical({**arch, "resolution": resolutions[0]})
    return arch


def contract_largest(space: Any, budget: Budget | None = None) -> dict:
    """The largest architecture (at the smallest resolution when the budget says so)."""
    return _sized(space, budget_for(space) if budget is None else budget, space.largest())


def contract_archs(space: Any, budget: Budget | None = None, seed: int = 1234) -> list[dict]:
    """The smallest, the largest and ``budget.num_random`` seeded random architectures."""
    budget = budget_for(space) if budget is None else budget
    rng = random.Random(seed)
    archs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(budget.num_random)]
    return [_sized(space, budget, arch) for arch in archs]


def randomize(net: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, biases, kernel transforms off the identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(0.3 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(0.2 * torch.randn(n, generator=gen))
        for name, param in net.named_parameters():
            if "transforms" in name:
                param.add_(0.1 * torch.randn(param.shape, generator=gen))
            elif name.endswith("bias") and param.dim() == 1 and "norm" not in name:
                param.copy_(0.1 * torch.randn(param.shape, generator=gen))


def _fail(message: str) -> None:
    raise ContractError(message)


def _expect_invalid(space: Any, arch: dict, *needles: str) -> str:
    try:
        space.validate(arch)
    except InvalidArchitecture as exc:
        message = str(exc)
        missing = [n for n in needles if n not in message]
        if missing:
            _fail(f"space {space.name!r}: InvalidArchitecture message {message!r} does not name {missing}")
        return message
    _fail(f"space {space.name!r}: validate() accepted the invalid architecture {arch!r}")
    return ""


# -- every space ----------------------------------------------------------------------------------
def check_validate_rejects_unknown_key(space: Any) -> None:
    arch = space.largest()
    arch["no.such.key"] = 1
    _expect_invalid(space, arch, "'no.such.key'")


def check_validate_rejects_missing_key(space: Any) -> None:
    arch = space.largest()
    key = space.keys[-1]
    del arch[key]
    _expect_invalid(space, arch, f"missing key {key!r}")


def check_validate_rejects_value_outside_choices(space: Any) -> None:
    arch = space.largest()
    key = space.keys[0]
    bad = "not-a-choice" if isinstance(arch[key], str) else 987654321
    arch[key] = bad
    _expect_invalid(space, arch, repr(key), str(bad), str(list(space.choices[key])))


def check_canonical_is_idempotent(space: Any) -> None:
    for arch in contract_archs(space, Budget(num_random=4)):
        canon = space.canonical(arch)
        if space.canonical(canon) != canon or space.validate(canon) != canon:
            _fail(f"space {space.name!r}: canonical() is not idempotent or not valid for {arch!r}")


def check_canonical_ignores_inactive_blocks(space: Any) -> None:
    """A block past its stage's depth does not change ``canonical`` or ``key`` (MobileNet-family keys)."""
    found = False
    for depth_key in [k for k in space.keys if re.fullmatch(r"s\d+\.depth", k)]:
        depths = space.choices[depth_key]
        inactive = f"{depth_key.split('.')[0]}.b{depths[0]}.kernel"
        kernels = space.choices.get(inactive, ())
        if len(depths) < 2 or len(kernels) < 2:
            continue
        arch = {**space.largest(), depth_key: depths[0]}
        one, other = {**arch, inactive: kernels[0]}, {**arch, inactive: kernels[-1]}
        if space.canonical(one) != space.canonical(other) or space.key(one) != space.key(other):
            _fail(f"space {space.name!r}: {inactive!r} is inactive at {depth_key}={depths[0]} but changes canonical()")
        found = True
    if not found:
        raise NotApplicable(f"space {space.name!r} has no stage with an elastic depth and kernel")


# -- spaces with a supernet -----------------------------------------------------------------------
def _input(space: Any, budget: Budget, seed: int) -> torch.Tensor:
    shape = space.input_shape(contract_largest(space, budget))
    return torch.randn(budget.batch_size, *shape, generator=torch.Generator().manual_seed(seed))


def check_extracted_subnet_equals_supernet(space: Any, net: Any, budget: Budget | None = None) -> None:
    """For every contract architecture, the extracted subnet (eval mode) computes what the supernet does."""
    budget = budget_for(space) if budget is None else budget
    x = _input(space, budget, 7)
    net.eval()
    for arch in contract_archs(space, budget):
        net.set_active(arch)
        subnet = net.extract(arch)
        if subnet.training:
            _fail(f"space {space.name!r}: extract() returned a subnet in train mode")
        with torch.no_grad():
            expected, got = net(x), subnet(x)
        if tuple(got.shape) != (budget.batch_size, net.num_classes):
            _fail(f"space {space.name!r}: subnet output shape {tuple(got.shape)}, expected "
                  f"{(budget.batch_size, net.num_classes)}")
        if not torch.allclose(got, expected, atol=ATOL, rtol=RTOL):
            _fail(f"space {space.name!r}: subnet and supernet differ by {(got - expected).abs().max().item():.3g} "
                  f"for {arch!r}")


def check_output_depends_on_arch(space: Any, net: Any, budget: Budget | None = None) -> None:
    budget = budget_for(space) if budget is None else budget
    x = _input(space, budget, 3)
    net.eval()
    outputs = []
    with torch.no_grad():
        for arch in (space.smallest(), contract_largest(space, budget)):
            net.set_active(arch)
            outputs.append(net(x))
    if torch.allclose(outputs[0], outputs[1]):
        _fail(f"space {space.name!r}: the smallest and the largest subnet compute the same output")


def check_flops_and_params(space: Any, net: Any, budget: Budget | None = None) -> None:
    """``space.flops`` equals ``FlopCounterMode`` on the extracted subnet; ``space.params`` its parameters."""
    budget = budget_for(space) if budget is None else budget
    for arch in contract_archs(space, budget):
        subnet = net.extract(arch)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            subnet(torch.zeros(1, *space.input_shape(arch)))
        counted = counter.get_total_flops()
        if space.flops(arch) != counted:
            _fail(f"space {space.name!r}: flops() = {space.flops(arch)}, FlopCounterMode counts {counted} for {arch!r}")
        params = sum(p.numel() for p in subnet.parameters())
        if space.params(arch) != params:
            _fail(f"space {space.name!r}: params() = {space.params(arch)}, the subnet has {params} for {arch!r}")


def check_extracted_subnet_is_standalone(space: Any, net: Any, budget: Budget | None = None) -> None:
    """The largest subnet shares no storage with the supernet and holds no supernet module."""
    subnet = net.extract(space.largest())
    storage = {p.untyped_storage().data_ptr() for p in net.parameters()}
    storage |= {b.untyped_storage().data_ptr() for b in net.buffers()}
    for tensor in list(subnet.parameters()) + list(subnet.buffers()):
        if tensor.untyped_storage().data_ptr() in storage:
            _fail(f"space {space.name!r}: the extracted subnet shares a tensor with the supernet")
    if any(isinstance(m, type(net)) for m in subnet.modules()):
        _fail(f"space {space.name!r}: the extracted subnet contains the supernet")


def check_torchscript(space: Any, net: Any, budget: Budget | None = None) -> None:
    """The largest subnet compiles with ``torch.jit.script`` (or else traces) and computes the same."""
    budget = budget_for(space) if budget is None else budget
    arch = contract_largest(space, budget)
    subnet = net.extract(arch)
    x = torch.randn(budget.batch_size, *space.input_shape(arch), generator=torch.Generator().manual_seed(11))
    try:
        compiled = torch.jit.script(subnet)
    except Exception:  # noqa: BLE001 - tracing is the documented fallback
        compiled = torch.jit.trace(subnet, x)
    with torch.no_grad():
        if not torch.allclose(compiled(x), subnet(x), atol=ATOL, rtol=RTOL):
            _fail(f"space {space.name!r}: the compiled subnet computes something else")


def check_torch_export(space: Any, net: Any, budget: Budget | None = None) -> None:
    """The largest subnet exports with ``torch.export`` (a dynamic batch axis, as ``raynas export
    --format torch_export`` writes it) and computes the same at batch 1 and at the budget's batch.

    A subnet ``torch.export`` cannot capture makes the check not applicable (that format is then
    unavailable for the space; TorchScript, ONNX aside, and state dicts still are)."""
    budget = budget_for(space) if budget is None else budget
    arch = contract_largest(space, budget)
    subnet = net.extract(arch).eval()
    shape = tuple(space.input_shape(arch))
    try:
        program = export_program(subnet, shape)
    except Exception as exc:  # noqa: BLE001 - torch.export raises many types for code it cannot capture
        raise NotApplicable(f"space {space.name!r}: torch.export cannot capture the subnet "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    exported = program.module()
    generator = torch.Generator().manual_seed(12)
    for batch in sorted({1, budget.batch_size}):
        x = torch.randn(batch, *shape, generator=generator)
        with torch.no_grad():
            if not torch.allclose(exported(x), subnet(x), atol=ATOL, rtol=RTOL):
                _fail(f"space {space.name!r}: the torch.export program computes something else at batch {batch}")


def check_sort_channels(space: Any, net: Any = None, budget: Budget | None = None) -> None:
    """``sort_channels`` on a fresh supernet changes weights but not the largest subnet's output."""
    budget = budget_for(space) if budget is None else budget
    fresh = space.build_supernet()
    torch.manual_seed(1)
    randomize(fresh, seed=1)
    fresh.eval()
    fresh.set_active(contract_largest(space, budget))
    x = _input(space, budget, 5)
    with torch.no_grad():
        before = fresh(x)
        state = {k: v.clone() for k, v in fresh.state_dict().items()}
        try:
            fresh.sort_channels()
        except NotImplementedError as exc:
            raise NotApplicable(f"supernet of {space.name!r} does not sort channels: {exc}") from exc
        after = fresh(x)
    if not torch.allclose(before, after, atol=ATOL, rtol=RTOL):
        _fail(f"space {space.name!r}: sort_channels changed the largest subnet's output by "
              f"{(before - after).abs().max().item():.3g}")
    if all(torch.equal(v, state[k]) for k, v in fresh.state_dict().items()):
        _fail(f"space {space.name!r}: sort_channels changed no weight; a missing permutation would go unnoticed")


def check_set_active_rejects_invalid_arch(space: Any, net: Any, budget: Budget | None = None) -> None:
    net.set_active(space.largest())
    bad = {**space.largest(), "no.such.key": 0}
    try:
        net.set_active(bad)
    except InvalidArchitecture:
        pass
    else:
        _fail(f"space {space.name!r}: set_active accepted an architecture with an unknown key")
    if net.active_arch != space.canonical(space.largest()):
        _fail(f"space {space.name!r}: a rejected set_active changed the active architecture")


def check_checkpoint_round_trip(space: Any, net: Any, budget: Budget | None = None) -> None:
    """``net.save`` then ``raynas.Supernet.load`` rebuilds the space by name and the same function.

    Applies to spaces reachable through ``search_spaces.get(space.name, **space.kwargs)``.
    """
    import search_spaces
    from raynas.nn import Supernet

    if space.name not in search_spaces.available():
        raise NotApplicable(f"space {space.name!r} is not registered, so a checkpoint cannot rebuild it")
    budget = budget_for(space) if budget is None else budget
    arch = contract_archs(space, Budget(batch_size=budget.batch_size, num_random=1,
                                        smallest_resolution=budget.smallest_resolution))[-1]
    x = _input(space, budget, 13)
    net.eval()
    net.set_active(arch)
    with tempfile.TemporaryDirectory(prefix="raynas-contract-") as directory:
        path = net.save(os.path.join(directory, "supernet.pt"))
        loaded = Supernet.load(path).eval()
    loaded.set_active(arch)
    with torch.no_grad():
        if not torch.allclose(loaded(x), net(x), atol=ATOL, rtol=RTOL):
            _fail(f"space {space.name!r}: the loaded supernet computes something else")


SPACE_CHECKS: tuple[Callable[[Any], None], ...] = (
    check_validate_rejects_unknown_key,
    check_validate_rejects_missing_key,
    check_validate_rejects_value_outside_choices,
    check_canonical_is_idempotent,
    check_canonical_ignores_inactive_blocks,
)
"""Checks for every space: ``check(space)``."""

SUPERNET_CHECKS: tuple[Callable[..., None], ...] = (
    check_extracted_subnet_equals_supernet,
    check_output_depends_on_arch,
    check_flops_and_params,
    check_extracted_subnet_is_standalone,
    check_torchscript,
    check_torch_export,
    check_sort_channels,
    check_set_active_rejects_invalid_arch,
    check_checkpoint_round_trip,
)
"""Checks for spaces with a supernet: ``check(space, net, budget)``."""


def check_space(space: Any, budget: Budget | None = None) -> list[str]:
    """Run every check that applies; return the names of those that did not apply.

    The supernet is built once (``space.build_supernet()``), randomized with
    :func:`randomize` and put in eval mode.
    """
    skipped = []
    for check in SPACE_CHECKS:
        try:
            check(space)
        except NotApplicable:
            skipped.append(check.__name__)
    try:
        net = space.build_supernet()
    except NotImplementedError:
        return skipped + [c.__name__ for c in SUPERNET_CHECKS]
    torch.manual_seed(0)
    randomize(net)
    net.eval()
    budget = budget_for(space) if budget is None else budget
    for check in SUPERNET_CHECKS:
        try:
            check(space, net, budget)
        except NotApplicable:
            skipped.append(check.__name__)
    return skipped
