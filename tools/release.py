"""Release helper for the cnop-* distributions, each released on its own tag.

    python tools/release.py changed                   # what changed since each last tag
    python tools/release.py bump cnop-auth minor      # or patch / major / an explicit 1.2.3
    python tools/release.py tag cnop-auth [--version 0.2.0]

``bump`` writes the new version into ``src/cnop/<name>/__about__.py`` and turns the
CHANGELOG's unreleased heading (``## Unreleased`` or ``## 0.1.0 (unreleased)``) into
``## <version> (<date>)``. ``tag`` creates the annotated tag ``cnop-<name>-v<version>``
after checking that the version, the CHANGELOG and the requested version agree.
Both refuse to run on a dirty tree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VERSION_LINE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
UNRELEASED_HEADING = re.compile(r"^## (?:(?P<version>\S+) )?\(?unreleased\)?\s*$", re.I | re.M)
BUMPS = ("major", "minor", "patch")


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

    def version(self) -> str:
        match = VERSION_LINE.search(self.about.read_text())
        if not match:
            raise ReleaseError(f"{self.about.relative_to(self.root)} has no __version__ line")
        return match["version"]


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
    match = SEMVER.match(version)
    return tuple(int(p) for p in match.groups()) if match else (-1,)


def last_tag(dist: Distribution) -> str | None:
    tags = _git(dist.root, "tag", "--list", f"{dist.tag_prefix}*").split()
    versions = [t.removeprefix(dist.tag_prefix) for t in tags]
    released = sorted((v for v in versions if SEMVER.match(v)), key=_version_key)
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
        if not SEMVER.match(how):
            raise ReleaseError(f"{how!r} is neither major/minor/patch nor a version like 1.2.3")
        if first_release and how == current:
            return how
        if _version_key(how) <= _version_key(current):
            raise ReleaseError(f"new version {how} must be greater than the current {current}")
        return how
    match = SEMVER.match(current)
    if not match:
        raise ReleaseError(f"current version {current!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in match.groups())
    if how == "major":
        return f"{major + 1}.0.0"
    if how == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def bump(dist: Distribution, how: str, today: dt.date | None = None) -> str:
    """Set the new version and date the CHANGELOG's unreleased section; return the version."""
    _require_clean(dist.root)
    new = next_version(dist.version(), how, first_release=last_tag(dist) is None)
    text = dist.changelog.read_text()
    if not UNRELEASED_HEADING.search(text):
        raise ReleaseError(
            f"{dist.changelog.relative_to(dist.root)} has no '## Unreleased' section: "
            "describe the changes before releasing"
        )
    date = (today or dt.datetime.now(dt.timezone.utc).date()).isoformat()
    dist.changelog.write_text(UNRELEASED_HEADING.sub(f"## {new} ({date})", text, count=1))
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
    _git(dist.root, "tag", "-a", name, "-m", f"{dist.name} {version}")
    return name


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
    args = parser.parse_args(argv)
    try:
        if args.command == "changed":
            for dist, why in changed(args.root):
                print(f"{dist.name} {dist.version()}: {why}")
        elif args.command == "bump":
            dist = find(args.root, args.distribution)
            print(f"{dist.name} -> {bump(dist, args.how)}")
        else:
            print(tag(find(args.root, args.distribution), args.version))
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
