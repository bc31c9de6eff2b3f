"""raynas.registry.Registry: built-ins imported on first use, user entries, clear errors."""

from __future__ import annotations

import pytest

from raynas.errors import ConfigError
from raynas.registry import Registry


def _registry() -> Registry:
    return Registry("widget", {"json-dumps": "json:dumps"})


def test_builtin_factories_are_imported_on_first_use():
    import json

    registry = _registry()
    assert registry.available() == ["json-dumps"]
    assert "json-dumps" in registry and not registry.is_user("json-dumps")
    assert registry.factory("json-dumps") is json.dumps


def test_user_entries_are_added_replaced_and_removed():
    registry = _registry()
    registry.register("mine", dict)
    assert registry.available() == ["json-dumps", "mine"] and registry.is_user("mine")
    assert registry.factory("mine") is dict
    with pytest.raises(ValueError, match="widget 'mine' is already registered; pass overwrite=True"):
        registry.register("mine", list)
    registry.register("mine", list, overwrite=True)
    assert registry.factory("mine") is list
    registry.register("json-dumps", tuple, overwrite=True)  # a user's entry wins over a built-in
    assert registry.factory("json-dumps") is tuple
    registry.unregister("json-dumps")
    assert registry.factory("json-dumps").__name__ == "dumps"
    registry.unregister("mine")
    assert registry.available() == ["json-dumps"]


def test_errors_name_the_kind_and_the_valid_names():
    registry = _registry()
    with pytest.raises(ConfigError, match="unknown widget 'nope'; available: json-dumps"):
        registry.factory("nope")
    with pytest.raises(ConfigError, match="unknown widget 3"):
        registry.factory(3)
    with pytest.raises(ValueError, match="widget 'json-dumps' is built in and cannot be unregistered"):
        registry.unregister("json-dumps")
    with pytest.raises(ValueError, match=r"widget 'x' is not registered; added with register\(\): \[\]"):
        registry.unregister("x")
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register("", dict)
    with pytest.raises(TypeError, match="must be callable"):
        registry.register("y", 3)


def test_the_registry_module_is_a_leaf():
    import ast
    from pathlib import Path

    import raynas.registry

    tree = ast.parse(Path(raynas.registry.__file__).read_text())
    project = [
        node.module for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in
        ("raynas", "strategies", "search_spaces")
    ]
    assert project == ["raynas.errors"]
