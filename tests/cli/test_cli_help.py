"""Every option and argument of every command says what it is for in ``--help``."""

from __future__ import annotations

import argparse

from raynas.cli.main import build_parser


def _parsers(parser: argparse.ArgumentParser, path: str):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_option_of_every_command_has_help():
    missing = [
        f"{path}: {action.option_strings[-1] if action.option_strings else action.dest}"
        for path, parser in _parsers(build_parser(), "raynas")
        for action in parser._actions
        if action.help is None and not isinstance(action, argparse._SubParsersAction)
    ]
    assert missing == []
