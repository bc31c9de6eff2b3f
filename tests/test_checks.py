"""raynas.checks: every check names the parameter, the rule, the value received (and the choices)."""

from __future__ import annotations

import math
import re

import pytest

from raynas.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_positive_float,
    check_positive_int,
)
from raynas.errors import ConfigError


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: check_int("Owner", "n", 0, low=1), "Owner.n must be an int >= 1, got 0"),
        (lambda: check_int("Owner", "n", 5, low=1, high=4), "Owner.n must be an int in [1, 4], got 5"),
        (lambda: check_int("Owner", "n", 9, high=4), "Owner.n must be an int <= 4, got 9"),
        (lambda: check_int("Owner", "n", 2.5, low=1), "Owner.n must be an int, got 2.5 (float)"),
        (lambda: check_int(None, "n", True), "n must be an int, got True (bool)"),
        (lambda: check_float("O", "p", 1.5, low=0.0, high=1.0), "O.p must be a number in [0, 1], got 1.5"),
        (lambda: check_float("O", "p", 1.0, low=0, high=1, high_open=True), "O.p must be a number in [0, 1), got 1.0"),
        (lambda: check_float("O", "lr", 0.0, low=0.0, low_open=True), "O.lr must be a number > 0, got 0.0"),
        (lambda: check_float("O", "lr", math.nan, low=0.0), "O.lr must be a finite number, got nan"),
        (lambda: check_float("O", "lr", "1", low=0.0), "O.lr must be a finite number, got '1'"),
        (lambda: check_bool("O", "flag", 1), "O.flag must be True or False, got 1"),
        (lambda: check_choice("O", "mode", "up", ["min", "max"]), "O.mode must be one of ['min', 'max'], got 'up'"),
        (lambda: check_choice("O", "mode", [], ("a",)), "O.mode must be one of ['a'], got []"),
        (lambda: check_positive_int("O", "k", 0), "O.k must be an int >= 1, got 0"),
        (lambda: check_positive_int("O", "k", -1, allow_zero=True), "O.k must be an int >= 0, got -1"),
        (lambda: check_positive_float("O", "x", 0.0), "O.x must be a number > 0, got 0.0"),
        (lambda: check_positive_float("O", "x", -0.5, allow_zero=True), "O.x must be a number >= 0, got -0.5"),
    ],
)
def test_bad_values_are_named_with_the_rule(call, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message) + "$"):
        call()


def test_good_values_come_back_converted():
    assert check_int("O", "n", 3, low=1, high=3) == 3
    assert isinstance(check_float("O", "x", 1, low=0.0), float)
    assert check_float("O", "x", 0, low=0.0) == 0.0
    assert check_bool("O", "b", False) is False
    assert check_choice("O", "c", "b", ("a", "b")) == "b"
    assert check_positive_int("O", "k", 0, allow_zero=True) == 0
    assert check_positive_float("O", "x", 2) == 2.0


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        check_int("O", "n", -1, low=0)
