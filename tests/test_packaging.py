"""What a wheel carries: every subpackage of iter/ and the Hydra configs."""

from __future__ import annotations

from pathlib import Path

import tomllib

from iter.config import PACKAGED_CONFIGS, config_dir, is_checkout, project_root

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_lists_every_subpackage():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "iter").rglob("__init__.py")
    }
    listed = set(setuptools["packages"])
    assert listed - {"iter._configs"} == on_disk
    # The configs ship from the repository's configs/ folder, every yaml of it.
    assert setuptools["package-dir"]["iter._configs"] == "configs"
    assert "**/*.yaml" in setuptools["package-data"]["iter._configs"]


def test_configs_come_from_the_checkout_here_and_from_the_package_when_installed(
    monkeypatch, tmp_path
):
    import iter.config as config

    assert is_checkout() and config_dir() == REPO / "configs" and project_root() == REPO
    # As installed: no configs/ beside the package; the packaged copy and the working
    # directory take over.
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert not config.is_checkout()
    assert config.config_dir() == PACKAGED_CONFIGS
    assert config.project_root() == tmp_path
