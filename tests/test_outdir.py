import pytest

from raynas import ConfigError
from raynas._outdir import prepare_out_dir


def test_refuses_existing_results_and_keeps_them(tmp_path):
    (tmp_path / "best.json").write_text("{}")
    (tmp_path / "search.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds results.*--overwrite"):
        prepare_out_dir(tmp_path, resume=False, overwrite=False, marker="search.json")
    assert (tmp_path / "best.json").read_text() == "{}"


def test_never_deletes_a_foreign_folder(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not empty and holds no raynas results"):
        prepare_out_dir(tmp_path, resume=False, overwrite=True, marker="search.json")
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_overwrite_replaces_a_previous_run(tmp_path):
    (tmp_path / "search.json").write_text("{}")
    out = prepare_out_dir(tmp_path, resume=False, overwrite=True, marker="search.json")
    assert out.exists() and list(out.iterdir()) == []


def test_resume_needs_a_previous_run(tmp_path):
    with pytest.raises(ConfigError, match="cannot resume"):
        prepare_out_dir(tmp_path / "new", resume=True, overwrite=False, marker="search.json")


def test_storage_location_keeps_uris_and_makes_local_paths_absolute(tmp_path, monkeypatch):
    from raynas._outdir import storage_location

    monkeypatch.chdir(tmp_path)
    assert storage_location("s3://bucket/prefix") == "s3://bucket/prefix"
    assert storage_location("gs://b/p") == "gs://b/p"
    assert storage_location("rel/dir") == str(tmp_path / "rel" / "dir")
