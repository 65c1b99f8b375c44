"""The release helper against a throw-away git repository."""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cnop_release", ROOT / "tools" / "release.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


release = _load()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in ("alpha", "beta"):
        pkg = tmp_path / "packages" / f"cnop-{name}"
        (pkg / "src" / "cnop" / name).mkdir(parents=True)
        (pkg / "src" / "cnop" / name / "__about__.py").write_text('__version__ = "0.1.0"\n')
        (pkg / "CHANGELOG.md").write_text("# Changelog\n\n## 0.1.0 (unreleased)\n\n- First.\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "dev@example.com")
    git(tmp_path, "config", "user.name", "Dev")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def test_first_release_dates_the_changelog_and_tags(repo: Path) -> None:
    alpha = release.find(repo, "alpha")
    assert release.bump(alpha, "0.1.0", today=dt.date(2026, 1, 2)) == "0.1.0"
    assert "## 0.1.0 (2026-01-02)" in alpha.changelog.read_text()
    git(repo, "commit", "-qam", "release alpha 0.1.0")
    assert release.tag(alpha, "0.1.0") == "cnop-alpha-v0.1.0"
    assert git(repo, "cat-file", "-t", "cnop-alpha-v0.1.0").strip() == "tag"  # annotated


def test_changed_lists_only_what_moved_since_its_tag(repo: Path) -> None:
    alpha = release.find(repo, "cnop-alpha")
    release.bump(alpha, "0.1.0")
    git(repo, "commit", "-qam", "release")
    release.tag(alpha)
    assert [(d.name, why) for d, why in release.changed(repo)] == [("cnop-beta", "never released")]
    (alpha.folder / "new.txt").write_text("x")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change alpha")
    names = {d.name: why for d, why in release.changed(repo)}
    assert names["cnop-alpha"] == "1 file(s) changed since cnop-alpha-v0.1.0"


def test_bump_needs_an_unreleased_section_and_a_clean_tree(repo: Path) -> None:
    alpha = release.find(repo, "alpha")
    release.bump(alpha, "0.1.0")
    git(repo, "commit", "-qam", "release")
    release.tag(alpha)
    with pytest.raises(release.ReleaseError, match="no '## Unreleased' section"):
        release.bump(alpha, "minor")
    text = alpha.changelog.read_text().replace("## 0.1.0", "## Unreleased\n\n- More.\n\n## 0.1.0")
    alpha.changelog.write_text(text)
    with pytest.raises(release.ReleaseError, match="dirty"):
        release.bump(alpha, "minor")
    git(repo, "commit", "-qam", "notes")
    assert release.bump(alpha, "minor") == "0.2.0"
    assert alpha.version() == "0.2.0"


def test_tag_refuses_a_mismatched_version_and_says_what_it_found(repo: Path) -> None:
    beta = release.find(repo, "beta")
    release.bump(beta, "0.1.0")
    git(repo, "commit", "-qam", "release")
    with pytest.raises(
        release.ReleaseError, match=r"asked to tag cnop-beta 0.3.0, but .* says 0.1.0"
    ):
        release.tag(beta, "0.3.0")
    assert git(repo, "tag", "--list").strip() == ""


def test_tag_refuses_an_unreleased_changelog_and_duplicates(repo: Path) -> None:
    beta = release.find(repo, "beta")
    with pytest.raises(release.ReleaseError, match=r"first heading must be '## 0\.1\.0"):
        release.tag(beta)
    release.bump(beta, "0.1.0")
    git(repo, "commit", "-qam", "release")
    release.tag(beta)
    with pytest.raises(release.ReleaseError, match="already exists"):
        release.tag(beta)


@pytest.mark.parametrize(
    ("current", "how", "expected"),
    [("0.1.0", "patch", "0.1.1"), ("0.1.9", "minor", "0.2.0"), ("1.4.2", "major", "2.0.0")],
)
def test_next_version(current: str, how: str, expected: str) -> None:
    assert release.next_version(current, how) == expected


@pytest.mark.parametrize("how", ["0.0.9", "0.1.0", "banana"])
def test_next_version_refuses_going_backwards_or_nonsense(how: str) -> None:
    with pytest.raises(release.ReleaseError):
        release.next_version("0.1.0", how)


def test_unknown_distribution_names_the_known_ones(repo: Path) -> None:
    with pytest.raises(release.ReleaseError, match="known: cnop-alpha, cnop-beta"):
        release.find(repo, "gamma")


def test_cli_reports_errors_with_exit_code(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["--root", str(repo), "tag", "alpha", "--version", "9.9.9"]) == 1
    assert "says 0.1.0" in capsys.readouterr().err
