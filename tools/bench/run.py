"""Run the side-by-side benchmarks: ``hatch run bench:run [name ...]``.

Each ``tools/bench/bench_<name>.py`` defines ``main(argv: list[str]) -> int``; it
measures cnop against the peer a user would otherwise pick, in the same run, and
prints both figures and their ratio. Benchmarks that need servers start their own
through ``tools/testservers.py`` unless ``AWS_ENDPOINT_URL_DYNAMODB`` / ``REDIS_URL``
are set.

Each benchmark records its targets in ``summary`` (see ``summary.py``); the run ends with
one table of them all. ``all`` runs every benchmark; ``--markdown=FILE`` also writes the
table as Markdown with the date and load average of the run, and ``--readmes`` puts each
package's rows into the Performance section of its README (between the table markers).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type checker sees tools/ as a package; a run has this folder on sys.path
    from tools.bench import summary
else:
    import summary

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(f"cnop_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE.parent))  # so benchmarks can `import testservers`

    markdown = [a.split("=", 1)[1] for a in argv if a.startswith("--markdown=")]
    readmes = "--readmes" in argv
    argv = [a for a in argv if not a.startswith("--markdown=") and a != "--readmes"]
    available = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    names = [a for a in argv if not a.startswith("-") and a != "all"] or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(available)}",
            file=sys.stderr,
        )
        return 2
    status = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        module = _load(available[name])
        status |= int(module.main([a for a in argv if a.startswith("-")]))  # type: ignore[attr-defined]
    print("\n=== summary ===")
    print(summary.conditions())
    print(summary.table())
    for path in markdown:
        Path(path).write_text(summary.markdown(), encoding="utf-8")
        print(f"(written as Markdown to {path})")
    if readmes:
        for readme in summary.write_readmes(HERE.parent.parent):
            print(f"(the table of {readme.parent.name} written into its README)")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
