"""Run the side-by-side benchmarks: ``hatch run bench:run [name ...]``.

Each ``tools/bench/bench_<name>.py`` defines ``main(argv: list[str]) -> int``; it
measures cnop against the peer a user would otherwise pick, in the same run, and
prints both figures and their ratio. Benchmarks that need servers start their own
through ``tools/testservers.py`` unless ``AWS_ENDPOINT_URL_DYNAMODB`` / ``REDIS_URL``
are set.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
    available = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    names = [a for a in argv if not a.startswith("-")] or list(available)
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
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
