"""Check the released artefacts: every distribution installs and imports alone.

1. ``hatch build --all`` builds each wheel and sdist into ``dist/``.
2. No artefact may contain ``cnop/__init__.py`` (PEP 420: nobody owns the namespace), and
   each must carry the LICENSE (the wheel under ``.dist-info/licenses/``).
3. For each distribution, a fresh venv gets that wheel alone: its in-repo dependencies
   from the wheels just built, third-party ones from the index. Its root package must
   import; the installed dependency set and size are reported. Then its extras are
   added and every module of the package must import, so an import of a distribution
   it does not declare fails here.

    python tools/distcheck.py [--dist DIR] [--skip-build]
"""

from __future__ import annotations

import argparse
import email.parser
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE_INIT = "cnop/__init__.py"
LICENSE = "LICENSE"
# The distribution that promises to have no third-party dependency at all.
DEPENDENCY_FREE = {"cnop-exceptions"}


class DistCheckError(RuntimeError):
    """A check failed; the message says which artefact and why."""


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str  # normalised, e.g. "cnop-auth"
    version: str
    requires: tuple[str, ...]  # Requires-Dist lines
    extras: tuple[str, ...]

    @property
    def import_name(self) -> str:
        return "cnop." + self.name.removeprefix("cnop-")

    def in_repo_requirements(self) -> list[str]:
        """Names of cnop-* distributions this wheel needs without extras."""
        found = []
        for line in self.requires:
            if "extra ==" in line:
                continue
            name = re.split(r"[\s<>=!~;\[(]", line, maxsplit=1)[0].lower().replace("_", "-")
            if name.startswith("cnop-"):
                found.append(name)
        return found


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if any(n == NAMESPACE_INIT or n.endswith("/" + NAMESPACE_INIT) for n in names):
            raise DistCheckError(f"{path.name} contains {NAMESPACE_INIT}")
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        dist_info = metadata_name.removesuffix("METADATA")
        if f"{dist_info}licenses/{LICENSE}" not in names:
            raise DistCheckError(f"{path.name} has no {dist_info}licenses/{LICENSE}")
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    return Wheel(
        path=path,
        name=metadata["Name"].lower().replace("_", "-"),
        version=metadata["Version"],
        requires=tuple(metadata.get_all("Requires-Dist") or ()),
        extras=tuple(metadata.get_all("Provides-Extra") or ()),
    )


def check_sdist(path: Path) -> None:
    with tarfile.open(path) as archive:
        names = archive.getnames()
    for member in names:
        if member.endswith("/" + NAMESPACE_INIT):
            raise DistCheckError(f"{path.name} contains {member}")
    top = path.name.removesuffix(".tar.gz")
    if f"{top}/{LICENSE}" not in names:
        raise DistCheckError(f"{path.name} has no {top}/{LICENSE}")


def _run(*cmd: str, cwd: Path | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DistCheckError(
            f"`{' '.join(cmd)}` failed ({result.returncode}):\n{result.stdout[-2000:]}"
            f"{result.stderr[-2000:]}"
        )
    return result.stdout


def build(dist: Path) -> None:
    shutil.rmtree(dist, ignore_errors=True)
    _run("hatch", "build", "--all", cwd=ROOT)
    built = ROOT / "dist"
    if built.resolve() != dist.resolve():
        shutil.copytree(built, dist)


def _closure(wheel: Wheel, wheels: dict[str, Wheel]) -> list[Wheel]:
    """The wheel and the in-repo wheels it needs, transitively."""
    seen: dict[str, Wheel] = {}
    pending = [wheel.name]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in wheels:
            raise DistCheckError(f"{wheel.name} requires {name}, which was not built")
        seen[name] = wheels[name]
        pending.extend(wheels[name].in_repo_requirements())
    return list(seen.values())


def _site_size(venv: Path) -> int:
    return sum(f.stat().st_size for f in venv.glob("lib/python*/site-packages/**/*") if f.is_file())


def check_install(wheel: Wheel, wheels: dict[str, Wheel], python: str) -> str:
    """Install ``wheel`` alone in a fresh venv; return a one-line report."""
    with tempfile.TemporaryDirectory(prefix=f"distcheck-{wheel.name}-") as tmp:
        venv = Path(tmp) / "venv"
        _run("uv", "venv", "--quiet", "--python", python, str(venv))
        py = str(venv / "bin" / "python")
        needed = _closure(wheel, wheels)
        _run("uv", "pip", "install", "--quiet", "--python", py, *[str(w.path) for w in needed])
        _run(py, "-c", f"import {wheel.import_name}")
        listed = json.loads(_run("uv", "pip", "list", "--format", "json", "--python", py))
        own = {w.name for w in needed}
        installed = {entry["name"].lower().replace("_", "-") for entry in listed}
        third_party = sorted(installed - own)
        if wheel.name in DEPENDENCY_FREE and third_party:
            raise DistCheckError(f"{wheel.name} must install nothing else, got {third_party}")
        size_kib = _site_size(venv) // 1024
        if wheel.extras:
            spec = f"{wheel.path}[{','.join(wheel.extras)}]"
            others = [str(w.path) for w in needed if w.name != wheel.name]
            _run("uv", "pip", "install", "--quiet", "--python", py, spec, *others)
        # Every module must import with only what the distribution declares.
        _run(
            py,
            "-c",
            "import importlib, pkgutil, sys\n"
            f"pkg = importlib.import_module({wheel.import_name!r})\n"
            "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "    if m.name.rsplit('.', 1)[-1] != '__main__':\n"
            "        importlib.import_module(m.name)\n",
        )
    deps = ", ".join(third_party) if third_party else "none"
    in_repo = ", ".join(sorted(own - {wheel.name})) or "none"
    return (
        f"{wheel.name} {wheel.version}: imports alone; in-repo deps: {in_repo}; "
        f"{len(third_party)} third-party: {deps}; installed size {size_kib} KiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build and check every cnop distribution.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--skip-build", action="store_true", help="check what is in --dist")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venvs")
    args = parser.parse_args(argv)
    try:
        if not args.skip_build:
            build(args.dist)
        wheel_files = sorted(args.dist.glob("cnop_*.whl"))
        sdists = sorted(args.dist.glob("cnop_*.tar.gz"))
        expected = sorted(p.name for p in (ROOT / "packages").iterdir() if p.is_dir())
        wheels = {w.name: w for w in map(read_wheel, wheel_files)}
        if sorted(wheels) != expected:
            raise DistCheckError(f"built wheels {sorted(wheels)} != packages {expected}")
        if len(sdists) != len(expected):
            raise DistCheckError(f"expected {len(expected)} sdists, found {len(sdists)}")
        for sdist in sdists:
            check_sdist(sdist)
        print(
            f"{len(wheels)} wheels and {len(sdists)} sdists, each with its {LICENSE}, "
            f"none with {NAMESPACE_INIT}"
        )
        for wheel in wheels.values():
            print(check_install(wheel, wheels, args.python), flush=True)
    except DistCheckError as exc:
        print(f"distcheck FAILED: {exc}", file=sys.stderr)
        return 1
    print("distcheck passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
