"""The release helper against a throw-away git repository."""

from __future__ import annotations

import datetime as dt
import fnmatch
import importlib.util
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_tool(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


release = _load_tool("cnop_release", "release.py")


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


# --- in-repo pins, breaking bumps, CHANGELOG sections --------------------------------


def _requires(repo: Path, name: str, *deps: str) -> None:
    """Give cnop-<name> a pyproject with these dependencies, and commit it."""
    body = ", ".join(f'"{d}"' for d in deps)
    (repo / "packages" / f"cnop-{name}" / "pyproject.toml").write_text(
        f'[project]\nname = "cnop-{name}"\ndependencies = [{body}, "pydantic>=2"]\n'
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"cnop-{name} dependencies")


def _release(repo: Path, name: str, how: str) -> str:
    dist = release.find(repo, name)
    version = release.bump(dist, how)
    git(repo, "commit", "-qam", f"cnop-{name} {version}")
    return release.tag(dist, version)


def _set_version(repo: Path, name: str, version: str) -> None:
    about = repo / "packages" / f"cnop-{name}" / "src" / "cnop" / name / "__about__.py"
    about.write_text(f'__version__ = "{version}"\n')
    git(repo, "commit", "-qam", f"cnop-{name} is {version}")


def test_bump_refuses_a_pin_that_excludes_the_dependency_here(repo: Path) -> None:
    _set_version(repo, "alpha", "0.2.0")
    _requires(repo, "beta", "cnop-alpha>=0.3.0")
    with pytest.raises(
        release.ReleaseError,
        match=r"releasing cnop-beta 0\.2\.0: its pyproject requires cnop-alpha>=0\.3\.0, "
        r"but cnop-alpha is 0\.2\.0 here",
    ):
        release.bump(release.find(repo, "beta"), "0.2.0")
    assert release.find(repo, "beta").version() == "0.1.0"  # nothing written


def test_tag_refuses_a_pin_that_excludes_the_dependency_here(repo: Path) -> None:
    beta = release.find(repo, "beta")
    release.bump(beta, "0.1.0")
    git(repo, "commit", "-qam", "release")
    _requires(repo, "beta", "cnop-alpha[extra]>=0.1.0,!=0.1.0")  # pins are parsed, not grepped
    with pytest.raises(release.ReleaseError, match=r"requires cnop-alpha!=0\.1\.0,>=0\.1\.0"):
        release.tag(beta)


def test_tag_waits_for_a_released_dependency(repo: Path) -> None:
    _requires(repo, "beta", "cnop-alpha>=0.1.0")
    beta = release.find(repo, "beta")
    release.bump(beta, "0.1.0")
    git(repo, "commit", "-qam", "release beta")
    with pytest.raises(
        release.ReleaseError,
        match=r"no released cnop-alpha version admits it \(released: none\); "
        r"release cnop-alpha first",
    ):
        release.tag(beta)
    assert _release(repo, "alpha", "0.1.0") == "cnop-alpha-v0.1.0"
    assert release.tag(beta) == "cnop-beta-v0.1.0"


def test_a_pin_on_an_unknown_distribution_is_refused(repo: Path) -> None:
    _requires(repo, "beta", "cnop-gamma>=1.0")
    with pytest.raises(release.ReleaseError, match="requires cnop-gamma, which is not a dist"):
        release.bump(release.find(repo, "beta"), "0.1.0")


def test_a_breaking_bump_names_the_dependents_that_need_a_release(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _requires(repo, "beta", "cnop-alpha>=0.1.0")
    _release(repo, "alpha", "0.1.0")
    alpha = release.find(repo, "alpha")
    assert release.dependents_to_release(alpha, "0.1.0", "0.1.1") == []
    assert release.dependents_to_release(alpha, "0.1.0", "0.2.0") == ["cnop-beta"]  # 0.x
    assert release.dependents_to_release(alpha, "0.1.0", "1.0.0") == ["cnop-beta"]
    assert release.dependents_to_release(alpha, "1.2.0", "1.3.0") == []
    assert release.dependents_to_release(alpha, "1.2.0", "2.0.0") == ["cnop-beta"]
    (alpha.changelog).write_text("## Unreleased\n\n- Breaking.\n\n" + alpha.changelog.read_text())
    git(repo, "commit", "-qam", "notes")
    assert release.main(["--root", str(repo), "bump", "alpha", "major"]) == 0
    out = capsys.readouterr().out
    assert "cnop-alpha -> 1.0.0" in out
    assert "cnop-alpha 0.1.0 -> 1.0.0 may break its dependents" in out
    assert out.rstrip().endswith(": cnop-beta")


def test_a_pin_with_an_upper_bound_needs_a_release_on_any_bump_past_it(repo: Path) -> None:
    _requires(repo, "beta", "cnop-alpha>=1.0,<1.3")
    alpha = release.find(repo, "alpha")
    assert release.dependents_to_release(alpha, "1.2.0", "1.2.1") == []
    assert release.dependents_to_release(alpha, "1.2.0", "1.3.0") == ["cnop-beta"]


@pytest.mark.parametrize(
    "section",
    [
        "## Unreleased\n\n## 0.1.0 (2026-01-01)\n\n- First.\n",
        "## Unreleased\n   \n\t\n## 0.1.0 (2026-01-01)\n\n- First.\n",
        "## Unreleased\n\n## 0.1.0 (unreleased)\n\n",
        "## Unreleased \n",
    ],
)
def test_bump_refuses_an_empty_unreleased_section(repo: Path, section: str) -> None:
    alpha = release.find(repo, "alpha")
    alpha.changelog.write_text(f"# Changelog\n\n{section}")
    git(repo, "commit", "-qam", "empty notes")
    with pytest.raises(release.ReleaseError, match=r"section of .*CHANGELOG\.md is empty"):
        release.bump(alpha, "0.1.0")


@pytest.mark.parametrize(
    "how",
    ["0.2.0\n", " 0.2.0", "0.2.0 ", "\u0661.\u0662.\u0663", "\uff10.\uff12.\uff10", "00.2.0"],
)
def test_next_version_takes_a_plain_ascii_version_only(how: str) -> None:
    with pytest.raises(release.ReleaseError, match="neither major/minor/patch nor a version"):
        release.next_version("0.1.0", how)


# --- building and publishing ------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "cnop-auth-v0.2.0\n",
        " cnop-auth-v0.2.0",
        "cnop-auth-v0.2",
        "cnop-auth-0.2.0",
        "v0.2.0",
        "cnop-auth-v\u0660.2.0",
        "cnop-../x-v0.2.0",
        "cnop-auth-v0.2.0;rm",
        "cnop-auth-v01.2.0",
        "cnop-Auth-v0.2.0",
        "--output=x",
    ],
)
def test_a_malformed_release_tag_is_refused(tag: str) -> None:
    with pytest.raises(release.ReleaseError, match="is not a release tag"):
        release.parse_tag(tag)


def test_export_takes_the_tagged_commit_not_the_working_tree(repo: Path, tmp_path: Path) -> None:
    tag = _release(repo, "alpha", "0.1.0")
    alpha = release.find(repo, "alpha")
    (alpha.folder / "later.txt").write_text("committed after the tag")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "later")
    (alpha.folder / "dirty.txt").write_text("never committed")
    tree = release.export(repo, tag, tmp_path / "export")
    exported = release.find(tree, "alpha")
    assert exported.version() == "0.1.0"
    assert not (exported.folder / "later.txt").exists()
    assert not (exported.folder / "dirty.txt").exists()


def test_build_refuses_a_tag_that_does_not_match_its_commit(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    git(repo, "tag", "-a", "cnop-alpha-v0.2.0", "-m", "by hand")
    git(repo, "tag", "-a", "cnop-gamma-v0.1.0", "-m", "no such package")
    with pytest.raises(
        release.ReleaseError, match=r"tag cnop-alpha-v0\.2\.0 is on a commit where .* says 0\.1\.0"
    ):
        release.build(repo, "cnop-alpha-v0.2.0", out)
    with pytest.raises(release.ReleaseError, match=r"no tag cnop-alpha-v0\.3\.0"):
        release.build(repo, "cnop-alpha-v0.3.0", out)
    with pytest.raises(release.ReleaseError, match="unknown distribution 'cnop-gamma'"):
        release.build(repo, "cnop-gamma-v0.1.0", out)
    assert not out.exists()


def test_publish_needs_an_index_url(monkeypatch: pytest.MonkeyPatch, repo: Path) -> None:
    monkeypatch.delenv("TWINE_REPOSITORY_URL", raising=False)
    with pytest.raises(release.ReleaseError, match="pass --repository-url or set TWINE_REPO"):
        release.publish(repo, "cnop-alpha-v0.1.0")


@pytest.mark.parametrize(
    "url",
    ["https://user:s3cr3t-pw@upload.example.invalid/legacy/", "https://:s3cr3t-pw@x.invalid/"],
)
def test_publish_refuses_credentials_in_the_url_without_echoing_them(
    repo: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--root", str(repo), "publish", "cnop-alpha-v0.1.0", "--repository-url", url]
    assert release.main(argv) == 1
    err = capsys.readouterr().err
    assert "carries credentials; put them in TWINE_USERNAME and TWINE_PASSWORD" in err
    assert "s3cr3t-pw" not in err


@pytest.mark.parametrize(
    "url", ["ftp://index.invalid/", "file:///etc/passwd", "https://", " https://x.invalid/"]
)
def test_publish_refuses_a_url_that_is_not_http(repo: Path, url: str) -> None:
    with pytest.raises(release.ReleaseError, match=r"must be http\(s\)://host/"):
        release.publish(repo, "cnop-alpha-v0.1.0", repository_url=url)


def test_twine_output_is_redacted() -> None:
    assert release._redact("403 for pw-123 at x", ["pw-123", ""]) == "403 for *** at x"


# --- what the repository ships ----------------------------------------------------------

PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
HOME = "https://github.com/cnop/cnop-common"


def _toml(path: Path) -> dict[str, Any]:
    return release._load_toml(path)


def test_every_distribution_ships_the_mit_license_and_links_home() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n")
    assert "CNOP contributors" in license_text
    for package in PACKAGES:
        assert (package / "LICENSE").read_text() == license_text, package.name
        project = _toml(package / "pyproject.toml")["project"]
        assert project["license"] == "MIT"
        assert project["license-files"] == ["LICENSE"]
        sdist = _toml(package / "pyproject.toml")["tool"]["hatch"]["build"]["targets"]["sdist"]
        assert "LICENSE" in sdist["only-include"]
        urls = project["urls"]
        assert set(urls) == {"Homepage", "Source", "Changelog", "Issues"}, package.name
        assert urls["Homepage"] == HOME
        assert urls["Issues"] == f"{HOME}/issues"
        assert urls["Source"] == f"{HOME}/tree/main/packages/{package.name}"
        assert urls["Changelog"] == f"{HOME}/blob/main/packages/{package.name}/CHANGELOG.md"


def test_every_in_repo_pin_admits_the_version_in_this_repository() -> None:
    versions = release.repo_versions(ROOT)
    for dist in release.distributions(ROOT):
        release.check_pins(dist, dist.version(), versions, require_released=False)


def test_hatch_scripts_name_files_that_exist() -> None:
    envs = _toml(ROOT / "hatch.toml")["envs"]
    for env in envs.values():
        for script in env.get("scripts", {}).values():
            for command in script if isinstance(script, list) else [script]:
                for word in command.split():
                    if word.startswith("tools/"):
                        assert (ROOT / word).is_file(), command


def test_distcheck_refuses_a_wheel_or_sdist_without_the_license(tmp_path: Path) -> None:
    distcheck = sys.modules.get("cnop_distcheck") or _load_tool("cnop_distcheck", "distcheck.py")
    wheel = tmp_path / "cnop_x-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("cnop_x-0.1.0.dist-info/METADATA", "Name: cnop-x\nVersion: 0.1.0\n\n")
        archive.writestr("cnop/x/__init__.py", "")
    with pytest.raises(distcheck.DistCheckError, match=r"has no cnop_x-0\.1\.0\.dist-info/lic"):
        distcheck.read_wheel(wheel)
    sdist = tmp_path / "cnop_x-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("cnop_x-0.1.0/PKG-INFO")
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(distcheck.DistCheckError, match=r"has no cnop_x-0\.1\.0/LICENSE"):
        distcheck.check_sdist(sdist)


# --- the workflows (PyYAML is not a dependency here: the checks read the text) ----------

WORKFLOWS = ROOT / ".github" / "workflows"


def _job(text: str, name: str) -> str:
    """The lines of one job of a workflow: from ``  name:`` to the next job."""
    match = re.search(rf"^  {name}:\n(?:(?:    .*| *)\n)*", text, re.M)
    assert match, f"no job {name}"
    return match[0]


def test_release_workflow_runs_on_release_tags_only() -> None:
    text = (WORKFLOWS / "release.yml").read_text()
    trigger = re.search(r"^on:\n  push:\n    tags:\n((?:      - .*\n)+)(?!\s+branches)", text, re.M)
    assert trigger, "release.yml must run on pushed tags alone"
    patterns = re.findall(r'- "([^"]+)"', trigger[1])
    assert patterns == ["cnop-*-v*"]
    assert fnmatch.fnmatchcase("cnop-auth-v0.2.0", patterns[0])
    assert not fnmatch.fnmatchcase("v0.2.0", patterns[0])
    assert "branches" not in text.split("jobs:")[0]


def test_release_workflow_builds_only_the_tagged_distribution() -> None:
    text = (WORKFLOWS / "release.yml").read_text()
    build = _job(text, "build")
    assert "TAG: ${{ github.ref_name }}" in build
    assert 'python tools/release.py build "$TAG" --outdir dist' in build
    assert "hatch build" not in text
    assert "--all" not in text
    assert "fetch-depth: 0" in build  # tags are there for the pin checks
    publish = _job(text, "publish")
    assert "needs: build" in publish
    assert "uses: pypa/gh-action-pypi-publish@release/v1" in publish
    assert "packages-dir: dist/" in publish
    # The OIDC token is for the upload alone, not for the job that runs repository code.
    assert re.findall(r"id-token: write", text) == ["id-token: write"]
    assert "id-token: write" in publish
    assert "password:" not in text
    assert "${{ github.ref_name }}" not in build.split("run:")[-1]  # no expression in shell


def test_ci_workflow_runs_the_commands_of_ci_run_on_every_push() -> None:
    text = (WORKFLOWS / "ci.yml").read_text()
    assert re.search(r"^on:\n  push:\n", text, re.M)
    ci_run = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip()
        for line in ci_run.splitlines()
        if line.strip().startswith(("hatch ", "python3 "))
    ]
    assert commands, ".ci/run runs no command?"
    for command in commands:
        assert command in text, f"ci.yml does not run {command!r} from .ci/run"
    # `bash tools/test.sh` is split into one job per Python of the hatch-test matrix.
    pythons = _toml(ROOT / "hatch.toml")["envs"]["hatch-test"]["matrix"][0]["python"]
    assert f"python: {json.dumps(pythons)}" in _job(text, "tests")
    assert 'hatch test --python "$PY"' in text
    assert "PY: ${{ matrix.python }}" in text
    for pkg in ("exceptions", "logging", "auth", "locking", "data"):
        assert pkg in re.search(r"for pkg in (.*); do\n\s+hatch run \"pkg-\$pkg:test\"", text)[1]


def test_bump_merges_an_unreleased_section_above_a_first_release(repo: Path) -> None:
    alpha = release.find(repo, "alpha")
    alpha.changelog.write_text(
        "# Changelog\n\n## Unreleased\n\n- Later.\n\n## 0.1.0 (unreleased)\n\n- First.\n"
    )
    git(repo, "commit", "-qam", "notes")
    release.bump(alpha, "0.1.0", today=dt.date(2026, 1, 2))
    merged = "# Changelog\n\n## 0.1.0 (2026-01-02)\n\n- Later.\n\n- First.\n"
    assert alpha.changelog.read_text() == merged
    git(repo, "commit", "-qam", "release")
    assert release.tag(alpha) == "cnop-alpha-v0.1.0"


def test_bump_keeps_the_released_sections_below(repo: Path) -> None:
    alpha = release.find(repo, "alpha")
    _release(repo, "alpha", "0.1.0")
    text = alpha.changelog.read_text().replace("## 0.1.0", "## Unreleased\n\n- More.\n\n## 0.1.0")
    alpha.changelog.write_text(text)
    git(repo, "commit", "-qam", "notes")
    release.bump(alpha, "patch", today=dt.date(2026, 2, 3))
    assert alpha.changelog.read_text().startswith(
        "# Changelog\n\n## 0.1.1 (2026-02-03)\n\n- More.\n\n## 0.1.0 ("
    )


def test_bump_refuses_an_unreleased_section_below_a_released_one(repo: Path) -> None:
    alpha = release.find(repo, "alpha")
    alpha.changelog.write_text("## 0.1.0 (2026-01-01)\n\n- First.\n\n## Unreleased\n\n- Lost.\n")
    git(repo, "commit", "-qam", "notes")
    with pytest.raises(release.ReleaseError, match="must come before every released one"):
        release.bump(alpha, "0.1.0")
