"""Bad input: one line and exit 2 from the CLI, a specific exception from the API, nothing on disk changed."""

import hashlib
import json
import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import raynas
import search_spaces
from raynas.cli.main import main
from raynas.nn import Supernet


def _snapshot(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _cli_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("raynas: error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    return net.save(tmp_path / "run" / "supernet.pt", train_config={"dataset": "synthetic"})


def test_bad_checkpoints_are_one_line_errors(capsys, tmp_path, checkpoint):
    data = open(checkpoint, "rb").read()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a checkpoint")
    before = _snapshot(tmp_path)
    for path, needle in [(tmp_path / "missing.pt", "does not exist"), (truncated, "could not be read"),
                         (foreign, "not a raynas supernet checkpoint"), (notes, "could not be read")]:
        err = _cli_error(capsys, ["search", "--checkpoint", str(path), "--strategy", "random",
                                  "--out", str(tmp_path / "out")])
        assert needle in err
    assert _snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_checkpoint_from_another_space_is_refused(tmp_path, checkpoint):
    payload = torch.load(checkpoint, weights_only=True)
    payload["space_kwargs"] = {"in_channels": 3}  # a different tiny: the stem weights no longer fit
    other = tmp_path / "other.pt"
    torch.save(payload, other)
    with pytest.raises(raynas.InvalidCheckpoint, match="other.pt"):
        Supernet.load(other)


def test_constraint_nothing_satisfies(capsys, tmp_path, checkpoint):
    err = _cli_error(capsys, ["search", "--checkpoint", str(checkpoint), "--strategy", "random",
                              "--max-flops", "10", "--out", str(tmp_path / "out")])
    assert "smallest achievable flops" in err
    assert not (tmp_path / "out").exists()


def test_existing_results_are_not_overwritten(capsys, tmp_path, checkpoint):
    out = tmp_path / "out"
    out.mkdir()
    (out / "search.json").write_text("{}")
    (out / "history.csv").write_text("trial_id\nkeep\n")
    before = _snapshot(out)
    err = _cli_error(capsys, ["search", "--checkpoint", str(checkpoint), "--strategy", "random",
                              "--out", str(out)])
    assert "--overwrite" in err
    assert _snapshot(out) == before


@pytest.mark.parametrize("argv,needle", [
    (["search", "--checkpoint", "X", "--strategy", "annealing", "--out", "Y"], "unknown strategy 'annealing'"),
    (["search", "--checkpoint", "X", "--concurrency", "0", "--out", "Y"], "positive integer"),
    (["search", "--checkpoint", "X", "--max-flops", "-5", "--out", "Y"], "positive finite number"),
    (["run", "--workers", "0"], "positive integer"),
    (["run", "--budget", "-1"], "positive integer"),
])
def test_bad_names_and_counts(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert needle in _cli_error(capsys, argv)
    assert list(tmp_path.iterdir()) == []


def test_api_rejects_bad_budget_and_mode(tmp_path):
    space = search_spaces.ChoiceSpace({"a": (1, 2)})
    with pytest.raises(raynas.ConfigError, match="num_samples must be an int >= 1, got 0"):
        raynas.search(space, lambda arch: {"accuracy": 1.0}, strategy="random", num_samples=0, out_dir=tmp_path / "o")
    with pytest.raises(raynas.ConfigError, match="mode must be 'max' or 'min', got 'best'"):
        raynas.search(space, lambda arch: {"accuracy": 1.0}, strategy="random", mode="best", out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


_values = st.one_of(st.integers(-10, 400), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
                    st.none(), st.lists(st.integers(), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_validate_on_random_dicts_raises_only_invalid_architecture(data):
    space = search_spaces.get("tiny")
    keys = list(space.choices) + ["resolution ", "s9.depth", "x"]
    arch = data.draw(st.dictionaries(st.sampled_from(keys), _values, max_size=len(keys)))
    if data.draw(st.booleans()):  # start from a valid arch and corrupt one entry
        arch = {**space.sample(random.Random(data.draw(st.integers(0, 99)))), **arch}
    try:
        space.validate(arch)
    except raynas.InvalidArchitecture as exc:
        assert str(exc)
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"validate raised {type(exc).__name__}: {exc} for {arch!r}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=2048))
def test_random_bytes_as_checkpoint_raise_invalid_checkpoint(tmp_path, blob):
    path = tmp_path / "random.pt"
    path.write_bytes(blob)
    with pytest.raises(raynas.InvalidCheckpoint):
        Supernet.load(path)


def test_malformed_json_architecture_for_validate():
    space = search_spaces.get("tiny")
    with pytest.raises(raynas.InvalidArchitecture, match="must be a dict"):
        space.validate(json.loads("[1, 2, 3]"))
