"""``raynas export`` / ``raynas.export.export_subnet``: the exported model equals the supernet's active path,
and the TorchScript file runs in a Python process where raynas cannot be imported."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import search_spaces
from raynas.cli.main import main
from raynas.errors import ConfigError, InvalidArchitecture
from raynas.export import PREPROCESSING_FILE, export_subnet, load_arch, load_subnet, read_metadata

HAS_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained ``tiny`` supernet with random BN statistics (so slicing mistakes show), saved."""
    torch.manual_seed(0)
    space = search_spaces.get("tiny")
    net = space.build_supernet(num_classes=10)
    with torch.no_grad():
        for bn in net.bn_layers():
            bn.running_mean.normal_(0.0, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.normal_(1.0, 0.2)
            bn.bias.normal_(0.0, 0.2)
    folder = tmp_path_factory.mktemp("supernet")
    net.save(folder, train_config={"dataset": "digits"})  # as `raynas train` records it
    return folder


@pytest.fixture(scope="module")
def arch():
    space = search_spaces.get("tiny")
    rng = random.Random(7)
    # not the largest: a subnet that exercises depth, kernel and expand slicing
    while True:
        candidate = space.sample(rng)
        if candidate != space.canonical(space.largest()):
            return candidate


def _active_path(checkpoint, arch, x, *, calibrate=True):
    """The supernet's output for ``arch``, after BN re-calibration as the search's evaluator does it."""
    from raynas.data import load
    from raynas.evaluate.supernet import calibration_batches
    from raynas.nn import Supernet, recalibrate_bn

    net = Supernet.load(checkpoint)
    net.set_active(arch)
    if calibrate:
        train = load("digits", seed=0).train
        recalibrate_bn(net, calibration_batches(train, num_batches=4, batch_size=128, seed=0))
    net.eval()
    with torch.no_grad():
        return net(x)


def _torch_only_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` with ``python -I -S``: no site processing (so the editable raynas install is not
    on the path), no PYTHON* variables, no current folder; only torch's site-packages folder is added.
    The code runs only after it is checked that raynas and its packages cannot be imported."""
    site_packages = Path(torch.__file__).resolve().parents[1]
    prelude = textwrap.dedent(f"""
        import sys
        sys.path.append({str(site_packages)!r})
        for name in ("raynas", "search_spaces", "strategies"):
            try:
                __import__(name)
            except ModuleNotFoundError:
                pass
            else:
                raise SystemExit(name + " is importable: the test would prove nothing")
    """)
    return subprocess.run([sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_torchscript_runs_without_raynas_and_matches_the_active_path(checkpoint, arch, tmp_path):
    out = tmp_path / "subnet.pt"
    result = export_subnet(checkpoint, arch, out, format="torchscript")
    assert result.path == out and out.stat().st_size > 0
    shape = result["input_shape"]
    torch.manual_seed(1)
    x = torch.randn(4, *shape)
    torch.save({"x": x}, tmp_path / "x.pt")
    expected = _active_path(checkpoint, arch, x)

    proc = _torch_only_python(f"""
        import json
        import torch
        extra = {{"arch.json": ""}}
        model = torch.jit.load({str(out)!r}, _extra_files=extra)
        x = torch.load({str(tmp_path / 'x.pt')!r})["x"]
        with torch.no_grad():
            torch.save(model(x), {str(tmp_path / 'y.pt')!r})
        text = extra["arch.json"]
        print(text.decode() if isinstance(text, bytes) else text)
    """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == search_spaces.get("tiny").canonical(arch)
    got = torch.load(tmp_path / "y.pt")
    assert got.shape == expected.shape == (4, 10)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_state_dict_without_calibration_keeps_the_checkpoints_statistics(checkpoint, arch, tmp_path):
    result = export_subnet(checkpoint, arch, tmp_path / "subnet.sd", format="state_dict", calibrate=False)
    payload = torch.load(result.path, weights_only=True)
    assert payload["format"] == "raynas.subnet" and payload["space"] == "tiny"
    x = torch.randn(3, *result["input_shape"])
    with torch.no_grad():
        torch.testing.assert_close(load_subnet(result.path)(x), _active_path(checkpoint, arch, x, calibrate=False))


def test_exported_model_scores_what_the_search_measured(checkpoint, arch, tmp_path):
    from raynas.data import load
    from raynas.evaluate.supernet import SupernetEvaluator

    result = export_subnet(checkpoint, arch, tmp_path / "subnet.sd", format="state_dict")
    images, labels = load("digits", seed=0).val.tensors
    with torch.no_grad():
        correct = int((load_subnet(result.path)(images).argmax(dim=1) == labels).sum())
    measured = SupernetEvaluator(checkpoint, dataset="digits")(arch)["accuracy"]
    assert 100.0 * correct / len(labels) == pytest.approx(measured)


def test_a_checkpoint_without_its_data_set_asks_for_one(arch, tmp_path):
    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    net.save(tmp_path / "bare")
    with pytest.raises(ConfigError, match="records no training data set: pass dataset="):
        export_subnet(tmp_path / "bare", arch, tmp_path / "m.pt")
    assert export_subnet(tmp_path / "bare", arch, tmp_path / "m.pt", dataset="digits").path.exists()


DIGITS = {"dataset": "digits", "scale": 1 / 16, "mean": [0.3], "std": [0.4], "num_classes": 10, "channels": 1}


def _check_digits_preprocessing(meta, result):
    for key, value in DIGITS.items():
        assert meta[key] == pytest.approx(value) if isinstance(value, float) else meta[key] == value, key
    assert meta["input_shape"] == list(result["input_shape"]) and meta["layout"] == "NCHW float32"
    assert "resized" in meta["resize"]


def test_exported_files_record_their_preprocessing(checkpoint, arch, tmp_path):
    scripted = export_subnet(checkpoint, arch, tmp_path / "subnet.pt", format="torchscript", calibrate=False)
    files = {PREPROCESSING_FILE: ""}
    torch.jit.load(str(scripted.path), _extra_files=files)  # torch alone reads it back
    _check_digits_preprocessing(json.loads(files[PREPROCESSING_FILE]), scripted)
    assert read_metadata(scripted.path) == json.loads(files[PREPROCESSING_FILE]) == scripted["preprocessing"]
    plain = export_subnet(checkpoint, arch, tmp_path / "subnet.sd", format="state_dict", calibrate=False)
    _check_digits_preprocessing(read_metadata(plain.path), plain)


@pytest.mark.skipif(not HAS_ONNX, reason="onnx/onnxscript not installed (pip install 'raynas[onnx]' onnxscript)")
def test_onnx_matches_the_active_path(checkpoint, arch, tmp_path):
    import onnx
    from onnx.reference import ReferenceEvaluator

    result = export_subnet(checkpoint, arch, tmp_path / "subnet.onnx", format="onnx")
    model = onnx.load(str(result.path))
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: p.value for p in model.metadata_props}
    _check_digits_preprocessing(json.loads(props["raynas.preprocessing"]), result)
    assert json.loads(props["raynas.arch"]) == result["arch"]
    assert read_metadata(result.path) == result["preprocessing"]
    x = torch.randn(2, *result["input_shape"])
    got = ReferenceEvaluator(str(result.path)).run(None, {"images": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), _active_path(checkpoint, arch, x), rtol=1e-4, atol=1e-4)


def test_onnx_without_onnx_says_how_to_install_it(checkpoint, arch, tmp_path, capsys, monkeypatch):
    find_spec = importlib.util.find_spec  # as if onnx were not installed
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else find_spec(name, *a))
    code = main(["export", "--checkpoint", str(checkpoint), "--arch", json.dumps(arch), "--out",
                 str(tmp_path / "m.onnx"), "--format", "onnx"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install onnx" in err and "raynas[onnx]" in err
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_from_a_best_json(checkpoint, arch, tmp_path, capsys):
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"arch": arch, "metrics": {"accuracy": 1.0}}))
    out = tmp_path / "deploy" / "subnet.pt"
    assert main(["export", "--checkpoint", str(checkpoint), "--arch", str(best), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "torch.jit.load" in printed
    assert "preprocessing (digits): x = (pixel * 0.0625 - mean) / std, mean [0.3], std [0.4]" in printed
    assert out.exists()
    assert main(["export", "--checkpoint", str(checkpoint), "--arch", str(best), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("content,needle", [
    ("{\"resolution\": 16,", "is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    ("[1, 2]", "must hold a JSON object"),
    ("", "is not valid JSON: Expecting value at line 1 column 1"),
])
def test_malformed_arch_file_is_one_line_exit_2(checkpoint, tmp_path, capsys, content, needle):
    bad = tmp_path / "arch.json"
    bad.write_text(content)
    assert main(["export", "--checkpoint", str(checkpoint), "--arch", str(bad), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:") and "\n" not in err and needle in err and str(bad) in err
    assert not (tmp_path / "m.pt").exists()


def test_errors_name_the_problem(checkpoint, arch, tmp_path, capsys):
    wrong = dict(arch, resolution=13)
    with pytest.raises(InvalidArchitecture, match="resolution"):
        export_subnet(checkpoint, wrong, tmp_path / "m.pt")
    with pytest.raises(ConfigError, match=r"format must be one of \['state_dict', 'torchscript', 'torch_export', "
                                          r"'onnx'\], got 'tflite'"):
        export_subnet(checkpoint, arch, tmp_path / "m.pt", format="tflite")
    with pytest.raises(ConfigError, match="neither a JSON object nor an existing file"):
        load_arch(str(tmp_path / "missing.json"))
    assert main(["export", "--checkpoint", str(tmp_path / "nowhere"), "--arch", json.dumps(arch),
                 "--out", str(tmp_path / "m.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(checkpoint), "--arch", "{}", "--out", str(tmp_path / "m.pt"),
                 "--format", "keras"]) == 2
    assert "invalid choice: 'keras'" in capsys.readouterr().err


def test_torch_export_runs_without_raynas_and_matches_the_active_path(checkpoint, arch, tmp_path):
    out = tmp_path / "subnet.pt2"
    result = export_subnet(checkpoint, arch, out, format="torch_export")
    assert result.path == out and result["format"] == "torch_export" and out.stat().st_size > 0
    torch.manual_seed(2)
    xs = {"one": torch.randn(1, *result["input_shape"]), "five": torch.randn(5, *result["input_shape"])}
    torch.save(xs, tmp_path / "x.pt")

    proc = _torch_only_python(f"""
        import json
        import torch
        extra = {{"arch.json": ""}}
        model = torch.export.load({str(out)!r}, extra_files=extra).module()
        xs = torch.load({str(tmp_path / 'x.pt')!r})
        with torch.no_grad():
            torch.save({{k: model(x) for k, x in xs.items()}}, {str(tmp_path / 'y.pt')!r})
        print(extra["arch.json"])
    """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == search_spaces.get("tiny").canonical(arch)
    got = torch.load(tmp_path / "y.pt")
    for key, x in xs.items():  # any batch size, 1 included
        expected = _active_path(checkpoint, arch, x)
        assert got[key].shape == expected.shape == (len(x), 10)
        torch.testing.assert_close(got[key], expected, rtol=1e-5, atol=1e-5)


def test_torch_export_records_its_preprocessing_read_without_loading_the_program(checkpoint, arch, tmp_path,
                                                                                    monkeypatch):
    result = export_subnet(checkpoint, arch, tmp_path / "deploy.bin", format="torch_export", calibrate=False)
    _check_digits_preprocessing(result["preprocessing"], result)

    def refuse(*args, **kwargs):
        raise AssertionError("read_metadata loaded the program")

    monkeypatch.setattr(torch.export, "load", refuse)  # the metadata comes from the archive, nothing unpickled
    assert read_metadata(result.path) == result["preprocessing"]


def test_cli_export_torch_export_says_how_to_load_it(checkpoint, arch, tmp_path, capsys):
    out = tmp_path / "subnet.pt2"
    assert main(["export", "--checkpoint", str(checkpoint), "--arch", json.dumps(arch), "--out", str(out),
                 "--format", "torch_export", "--no-calibrate"]) == 0
    assert f"model = torch.export.load({str(out)!r}).module()" in capsys.readouterr().out
    assert out.exists()
