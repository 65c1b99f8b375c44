"""Release helper for the cnop-* distributions, each released on its own tag.

    python tools/release.py changed                   # what changed since each last tag
    python tools/release.py bump cnop-auth minor      # or patch / major / an explicit 1.2.3
    python tools/release.py tag cnop-auth [--version 0.2.0]
    python tools/release.py build cnop-auth-v0.2.0 [--outdir dist]
    python tools/release.py publish cnop-auth-v0.2.0 [--repository-url URL]

``bump`` writes the new version into ``src/cnop/<name>/__about__.py`` and turns the
CHANGELOG's unreleased heading (``## Unreleased`` or ``## 0.1.0 (unreleased)``) into
``## <version> (<date>)``; it refuses an empty unreleased section, and after a breaking
bump (major, or minor before 1.0) it names the dependents that need a release too.
``tag`` creates the annotated tag ``cnop-<name>-v<version>`` after checking that the
version, the CHANGELOG and the requested version agree. Both refuse to run on a dirty
tree, and both check the in-repo pins: every ``cnop-*`` requirement of the distribution
must admit the version of that dependency in this repository (and, for ``tag``, a
version of it that has been released).

``build`` exports the tagged commit (``git archive``, never the working tree) into a
temporary folder and builds that one distribution's sdist and wheel there; ``publish``
builds the same way and uploads the two files with twine to ``--repository-url`` or
``TWINE_REPOSITORY_URL``, with the credentials twine reads from the environment
(``TWINE_USERNAME``/``TWINE_PASSWORD``), which are never printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

VERSION_LINE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)
# ASCII digits only: ``\d`` also matches other scripts (Arabic-Indic, fullwidth), and
# ``$`` matches before a trailing newline, so versions are matched whole with fullmatch.
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
UNRELEASED_HEADING = re.compile(r"^## (?:(?P<version>\S+) )?\(?unreleased\)?[ \t]*$", re.I | re.M)
NEXT_HEADING = re.compile(r"^## ", re.M)
TAG = re.compile(rf"(?P<name>cnop-[a-z][a-z0-9]*)-v(?P<version>{SEMVER.pattern})")
BUMPS = ("major", "minor", "patch")
LICENSE = "LICENSE"


class ReleaseError(RuntimeError):
    """A release step was refused; the message says why and what to do."""


@dataclass(frozen=True)
class Distribution:
    root: Path  # the repository
    name: str  # "cnop-auth"

    @property
    def short(self) -> str:
        return self.name.removeprefix("cnop-")

    @property
    def folder(self) -> Path:
        return self.root / "packages" / self.name

    @property
    def about(self) -> Path:
        return self.folder / "src" / "cnop" / self.short / "__about__.py"

    @property
    def changelog(self) -> Path:
        return self.folder / "CHANGELOG.md"

    @property
    def tag_prefix(self) -> str:
        return f"{self.name}-v"

    @property
    def pyproject(self) -> Path:
        return self.folder / "pyproject.toml"

    def version(self) -> str:
        match = VERSION_LINE.search(self.about.read_text())
        if not match:
            raise ReleaseError(f"{self.about.relative_to(self.root)} has no __version__ line")
        return match["version"]

    def in_repo_pins(self) -> dict[str, SpecifierSet]:
        """The ``cnop-*`` requirements of the pyproject (runtime and extras), by name."""
        if not self.pyproject.exists():
            return {}
        project = _load_toml(self.pyproject).get("project", {})
        lines = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            lines.extend(extra)
        pins: dict[str, SpecifierSet] = {}
        for line in lines:
            try:
                requirement = Requirement(line)
            except InvalidRequirement as exc:
                rel = self.pyproject.relative_to(self.root)
                raise ReleaseError(f"{rel}: invalid requirement {line!r}: {exc}") from exc
            name = _normalise(requirement.name)
            if name.startswith("cnop-"):
                pins[name] = pins.get(name, SpecifierSet()) & requirement.specifier
        return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _load_toml(path: Path) -> dict[str, Any]:
    # tomllib is 3.11+; on 3.10 its backport tomli has the same API.
    toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    data: dict[str, Any] = toml.loads(path.read_text())
    return data


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def distributions(root: Path) -> list[Distribution]:
    return [
        Distribution(root, p.name)
        for p in sorted((root / "packages").iterdir())
        if p.is_dir() and p.name.startswith("cnop-")
    ]


def find(root: Path, name: str) -> Distribution:
    wanted = name if name.startswith("cnop-") else f"cnop-{name}"
    for dist in distributions(root):
        if dist.name == wanted:
            return dist
    known = ", ".join(d.name for d in distributions(root))
    raise ReleaseError(f"unknown distribution {name!r}; known: {known}")


def _require_clean(root: Path) -> None:
    dirty = _git(root, "status", "--porcelain").strip()
    if dirty:
        raise ReleaseError(f"the working tree is dirty; commit or stash first:\n{dirty}")


def _version_key(version: str) -> tuple[int, ...]:
    match = SEMVER.fullmatch(version)
    return tuple(int(p) for p in match.groups()) if match else (-1,)


def is_breaking(old: str, new: str) -> bool:
    """Whether going from ``old`` to ``new`` may break dependents: a new major version,
    or before 1.0 a new minor version (SemVer: anything may change in 0.x)."""
    old_key, new_key = _version_key(old), _version_key(new)
    if len(old_key) != 3 or len(new_key) != 3:
        return old != new
    if old_key[0] == 0 and new_key[0] == 0:
        return new_key[1] != old_key[1]
    return new_key[0] != old_key[0]


def released_versions(dist: Distribution) -> list[str]:
    tags = _git(dist.root, "tag", "--list", f"{dist.tag_prefix}*").split()
    versions = [t.removeprefix(dist.tag_prefix) for t in tags]
    return sorted((v for v in versions if SEMVER.fullmatch(v)), key=_version_key)


def check_pins(
    dist: Distribution, version: str, versions: Mapping[str, str], require_released: bool
) -> None:
    """Refuse to release ``dist`` at ``version`` unless each in-repo pin admits the
    version of that dependency in ``versions`` (and, if asked, a released one)."""
    for dep, spec in sorted(dist.in_repo_pins().items()):
        if dep not in versions:
            raise ReleaseError(
                f"releasing {dist.name} {version}: it requires {dep}, "
                "which is not a distribution of this repository"
            )
        if not spec.contains(versions[dep], prereleases=True):
            raise ReleaseError(
                f"releasing {dist.name} {version}: its pyproject requires {dep}{spec}, "
                f"but {dep} is {versions[dep]} here; lower the pin in "
                f"packages/{dist.name}/pyproject.toml or release {dep} first"
            )
        if require_released:
            released = released_versions(Distribution(dist.root, dep))
            if not any(spec.contains(v, prereleases=True) for v in released):
                have = ", ".join(released) or "none"
                raise ReleaseError(
                    f"releasing {dist.name} {version}: it requires {dep}{spec}, and no "
                    f"released {dep} version admits it (released: {have}); "
                    f"release {dep} first"
                )


def repo_versions(root: Path) -> dict[str, str]:
    return {d.name: d.version() for d in distributions(root)}


def dependents_to_release(dist: Distribution, old: str, new: str) -> list[str]:
    """The distributions that need a release once ``dist`` goes from ``old`` to ``new``:
    after a breaking bump, every direct dependent; otherwise those whose pin excludes
    ``new``."""
    breaking = is_breaking(old, new)
    found = []
    for other in distributions(dist.root):
        spec = other.in_repo_pins().get(dist.name)
        if spec is not None and (breaking or not spec.contains(new, prereleases=True)):
            found.append(other.name)
    return found


def last_tag(dist: Distribution) -> str | None:
    released = released_versions(dist)
    return f"{dist.tag_prefix}{released[-1]}" if released else None


def changed(root: Path) -> list[tuple[Distribution, str]]:
    """Distributions whose files changed since their last tag, with the reason."""
    result = []
    for dist in distributions(root):
        tag = last_tag(dist)
        if tag is None:
            result.append((dist, "never released"))
            continue
        rel = str(dist.folder.relative_to(root))
        files = _git(root, "diff", "--name-only", f"{tag}..HEAD", "--", rel).split()
        if files:
            result.append((dist, f"{len(files)} file(s) changed since {tag}"))
    return result


def next_version(current: str, how: str, first_release: bool = False) -> str:
    """The version after ``current``; a first release may keep ``current`` as it is."""
    if how not in BUMPS:
        if not SEMVER.fullmatch(how):
            raise ReleaseError(f"{how!r} is neither major/minor/patch nor a version like 1.2.3")
        if first_release and how == current:
            return how
        if _version_key(how) <= _version_key(current):
            raise ReleaseError(f"new version {how} must be greater than the current {current}")
        return how
    match = SEMVER.fullmatch(current)
    if not match:
        raise ReleaseError(f"current version {current!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in match.groups())
    if how == "major":
        return f"{major + 1}.0.0"
    if how == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def _dated_changelog(text: str, name: str, version: str, today: dt.date | None) -> str:
    """``text`` with its unreleased sections merged under ``## <version> (<date>)``.

    Unreleased sections (``## Unreleased``, ``## 0.1.0 (unreleased)``) must be the first
    sections and hold something; two of them (a ``## Unreleased`` above a first release's
    ``## 0.1.0 (unreleased)``) both go into this release.
    """
    headings = list(NEXT_HEADING.finditer(text))
    unreleased = [h for h in headings if UNRELEASED_HEADING.match(text, h.start())]
    if not unreleased:
        raise ReleaseError(
            f"{name} has no '## Unreleased' section: describe the changes before releasing"
        )
    if headings[: len(unreleased)] != unreleased:
        raise ReleaseError(f"{name}: the unreleased sections must come before every released one")
    ends = [h.start() for h in headings[1:]] + [len(text)]
    bodies = []
    # The unreleased sections are the first ones, so their ends are the first ends.
    for heading, end in zip(unreleased, ends[: len(unreleased)], strict=True):
        line_end = text.find("\n", heading.start(), end)
        bodies.append(text[line_end + 1 : end].strip("\n") if line_end >= 0 else "")
    if not any(body.strip() for body in bodies):
        raise ReleaseError(
            f"the '{text[unreleased[0].start() :].splitlines()[0].strip()}' section of {name} "
            "is empty: list the changes before releasing"
        )
    date = (today or dt.datetime.now(dt.timezone.utc).date()).isoformat()
    merged = "\n\n".join(body for body in bodies if body.strip())
    rest = text[ends[len(unreleased) - 1] :]
    return f"{text[: unreleased[0].start()]}## {version} ({date})\n\n{merged}\n" + (
        f"\n{rest}" if rest else ""
    )


def bump(dist: Distribution, how: str, today: dt.date | None = None) -> str:
    """Set the new version and date the CHANGELOG's unreleased section; return the version."""
    _require_clean(dist.root)
    new = next_version(dist.version(), how, first_release=last_tag(dist) is None)
    text = dist.changelog.read_text()
    changelog = dist.changelog.relative_to(dist.root)
    text = _dated_changelog(text, str(changelog), new, today)
    check_pins(dist, new, repo_versions(dist.root), require_released=False)
    check_pins(dist, new, repo_versions(dist.root), require_released=False)
    dist.changelog.write_text(text)
    dist.about.write_text(VERSION_LINE.sub(f'__version__ = "{new}"', dist.about.read_text()))
    return new


def tag(dist: Distribution, expected: str | None = None) -> str:
    """Create the annotated tag for the current version after checking it; return its name."""
    _require_clean(dist.root)
    version = dist.version()
    about = dist.about.relative_to(dist.root)
    if expected is not None and expected != version:
        raise ReleaseError(f"asked to tag {dist.name} {expected}, but {about} says {version}")
    heading = re.search(r"^## (\S+)(.*)$", dist.changelog.read_text(), re.M)
    if not heading or heading[1] != version or "unreleased" in heading[2].lower():
        found = heading[0].strip() if heading else "no heading"
        raise ReleaseError(
            f"the CHANGELOG's first heading must be '## {version} (<date>)', found '{found}'; "
            f"run `release.py bump {dist.name} ...` first"
        )
    name = f"{dist.tag_prefix}{version}"
    if name in _git(dist.root, "tag", "--list", name).split():
        raise ReleaseError(f"tag {name} already exists; bump the version first")
    check_pins(dist, version, repo_versions(dist.root), require_released=True)
    _git(dist.root, "tag", "-a", name, "-m", f"{dist.name} {version}")
    return name


# --- building and publishing a tagged distribution ------------------------------------


def parse_tag(tag_name: str) -> tuple[str, str]:
    """``cnop-auth-v0.2.0`` -> ``("cnop-auth", "0.2.0")``; anything else is refused."""
    match = TAG.fullmatch(tag_name)
    if not match:
        raise ReleaseError(
            f"{tag_name!r} is not a release tag: expected cnop-<name>-v<MAJOR.MINOR.PATCH>"
        )
    return match["name"], match["version"]


def export(root: Path, tag_name: str, dest: Path) -> Path:
    """Write the tree of the tagged commit (and nothing of the working tree) into ``dest``."""
    parse_tag(tag_name)
    ref = f"refs/tags/{tag_name}"
    if not _git(root, "tag", "--list", tag_name).split():
        raise ReleaseError(f"no tag {tag_name} in this repository; create it with `tag` first")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=root, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise ReleaseError(f"git archive {ref} failed: {archive.stderr.decode().strip()}")
    if not hasattr(tarfile, "data_filter"):
        raise ReleaseError("exporting a tag needs a Python with tarfile filters (3.10.12+)")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _commit_time(root: Path, tag_name: str) -> str:
    return _git(root, "log", "-1", "--format=%ct", f"refs/tags/{tag_name}^{{commit}}").strip()


def _check_artefacts(out: Path, name: str, version: str) -> list[Path]:
    """Exactly one sdist and one wheel of ``name`` ``version``, each with the LICENSE."""
    stem = f"{name.replace('-', '_')}-{version}"
    files = sorted(out.iterdir())
    wheels = [f for f in files if f.name.startswith(f"{stem}-") and f.name.endswith(".whl")]
    sdists = [f for f in files if f.name == f"{stem}.tar.gz"]
    if len(wheels) != 1 or len(sdists) != 1 or len(files) != 2:
        raise ReleaseError(f"expected one {stem} sdist and wheel, built: {[f.name for f in files]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        if f"{stem}.dist-info/licenses/{LICENSE}" not in wheel.namelist():
            raise ReleaseError(f"{wheels[0].name} does not contain its {LICENSE}")
    with tarfile.open(sdists[0]) as sdist:
        if f"{stem}/{LICENSE}" not in sdist.getnames():
            raise ReleaseError(f"{sdists[0].name} does not contain its {LICENSE}")
    return [sdists[0], wheels[0]]


def build(root: Path, tag_name: str, outdir: Path, python: str = sys.executable) -> list[Path]:
    """Build the sdist and wheel of the tagged distribution from the tagged commit alone.

    The sdist is built first and the wheel from the sdist (``python -m build``), so a file
    missing from the sdist fails here rather than for a user. Needs ``build`` and
    ``hatchling`` in ``python`` (the ``release`` hatch env has both). Returns the files,
    copied into ``outdir``.
    """
    name, version = parse_tag(tag_name)
    with tempfile.TemporaryDirectory(prefix=f"{name}-release-") as tmp:
        tree = export(root, tag_name, Path(tmp) / "src")
        dist = find(tree, name)
        found = dist.version()
        if found != version:
            raise ReleaseError(
                f"tag {tag_name} is on a commit where {dist.about.relative_to(tree)} "
                f"says {found}, not {version}"
            )
        check_pins(dist, version, repo_versions(tree), require_released=False)
        out = Path(tmp) / "dist"
        # Timestamps inside the archives come from the commit, so a rebuild is identical.
        env = {**os.environ, "SOURCE_DATE_EPOCH": _commit_time(root, tag_name)}
        result = subprocess.run(
            [python, "-m", "build", "--no-isolation", "--outdir", str(out), str(dist.folder)],
            cwd=tree,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            raise ReleaseError(
                f"building {name} {version} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        built = _check_artefacts(out, name, version)
        outdir.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy2(f, outdir / f.name)) for f in built]


def _repository_url(given: str | None) -> str:
    url = given or os.environ.get("TWINE_REPOSITORY_URL", "")
    if not url:
        raise ReleaseError(
            "no package index to upload to: pass --repository-url or set TWINE_REPOSITORY_URL"
        )
    parts = urlsplit(url)
    # The URL is printed and may land in logs: credentials belong in the environment.
    if parts.username is not None or parts.password is not None:
        raise ReleaseError(
            "the repository URL carries credentials; put them in TWINE_USERNAME and "
            "TWINE_PASSWORD instead"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname or url != url.strip():
        raise ReleaseError(f"the repository URL must be http(s)://host/..., got {url!r}")
    return url


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def publish(
    root: Path, tag_name: str, repository_url: str | None = None, python: str = sys.executable
) -> list[Path]:
    """Build the tagged distribution (see ``build``) and upload its two files with twine.

    Credentials come from the environment as twine reads them (``TWINE_USERNAME``,
    ``TWINE_PASSWORD``); nothing printed here or passed on from twine contains them.
    """
    url = _repository_url(repository_url)
    secrets = [os.environ.get("TWINE_PASSWORD", "")]
    with tempfile.TemporaryDirectory(prefix="cnop-publish-") as tmp:
        files = build(root, tag_name, Path(tmp))
        result = subprocess.run(
            [
                python,
                "-m",
                "twine",
                "upload",
                "--non-interactive",
                "--disable-progress-bar",
                "--repository-url",
                url,
                *map(str, files),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            output = _redact(f"{result.stdout[-3000:]}{result.stderr[-3000:]}", secrets)
            raise ReleaseError(f"uploading {tag_name} to {url} failed:\n{output}")
        return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("changed", help="list distributions changed since their last tag")
    bump_p = sub.add_parser("bump", help="bump a version and date its CHANGELOG section")
    bump_p.add_argument("distribution")
    bump_p.add_argument("how", help="major, minor, patch or an explicit version")
    tag_p = sub.add_parser("tag", help="create the annotated release tag")
    tag_p.add_argument("distribution")
    tag_p.add_argument("--version", help="refuse unless the package has this version")
    build_p = sub.add_parser("build", help="build a tagged distribution from its tagged commit")
    build_p.add_argument("tag", help="a release tag, cnop-<name>-v<version>")
    build_p.add_argument("--outdir", type=Path, default=Path("dist"))
    pub_p = sub.add_parser("publish", help="build a tagged distribution and upload it")
    pub_p.add_argument("tag", help="a release tag, cnop-<name>-v<version>")
    pub_p.add_argument("--repository-url", help="the upload URL (default: TWINE_REPOSITORY_URL)")
    args = parser.parse_args(argv)
    try:
        if args.command == "changed":
            for dist, why in changed(args.root):
                print(f"{dist.name} {dist.version()}: {why}")
        elif args.command == "bump":
            dist = find(args.root, args.distribution)
            old = dist.version()
            new = bump(dist, args.how)
            print(f"{dist.name} -> {new}")
            waiting = dependents_to_release(dist, old, new)
            if waiting:
                print(
                    f"{dist.name} {old} -> {new} may break its dependents; release these too, "
                    f"with their {dist.name} pin raised to >={new} once they work with it: "
                    + ", ".join(waiting)
                )
        elif args.command == "tag":
            print(tag(find(args.root, args.distribution), args.version))
        elif args.command == "build":
            for path in build(args.root, args.tag, args.outdir.resolve()):
                print(path)
        else:
            for path in publish(args.root, args.tag, args.repository_url):
                print(f"uploaded {path.name}")
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
