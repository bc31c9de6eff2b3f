"""Search spaces: the choices, how to sample, mutate and encode them, and the matching supernet.

Reach a space through the registry::

    import search_spaces
    space = search_spaces.get("tiny")
"""

from search_spaces._base import Arch, SearchSpace, pick
from search_spaces._registry import available, get, register, unregister
from search_spaces.choice import ChoiceSpace

__all__ = [
    "Arch",
    "SearchSpace",
    "ChoiceSpace",
    "MobileNetSpace",
    "StageSpec",
    "TinySpace",
    "CellSpace",
    "NB201Space",
    "OFAMobileNetV3Space",
    "OFAProxylessSpace",
    "BigNASMobileNetV2Space",
    "available",
    "get",
    "register",
    "unregister",
    "pick",
]

# Spaces with a supernet import torch; they load on first access so that
# ``import search_spaces`` stays light for torch-free code (strategies).
_LAZY = {
    "MobileNetSpace": "search_spaces.mobilenet",
    "StageSpec": "search_spaces.mobilenet",
    "TinySpace": "search_spaces.tiny",
    "CellSpace": "search_spaces.cell",
    "NB201Space": "search_spaces.nb201",
    "OFAMobileNetV3Space": "search_spaces.ofa_mbv3",
    "OFAProxylessSpace": "search_spaces.ofa_proxyless",
    "BigNASMobileNetV2Space": "search_spaces.bignas_mbv2",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'search_spaces' has no attribute {name!r}")
