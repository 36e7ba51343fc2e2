"""Short labels that tell loaded result files apart in tables and charts: the Python version
(with a free-threaded build's "t" and GIL state), else the Python and host, else the file stem,
numbered when stems repeat."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.results.schema import ResultSet


def default_label(path: Path, environment: Mapping[str, Any]) -> str:
    """The Python version; for a free-threaded build also its "t" and the GIL state it measured
    with ("3.13.15t GIL off"), so that files that differ only in build or GIL are told apart by
    what differs, not by their names."""
    version = environment.get("python_version")
    if isinstance(version, str) and version.strip():
        return version.split()[0] + _build_suffix(environment)
    return stem(path)


def _build_suffix(environment: Mapping[str, Any]) -> str:
    build = environment.get("python_build")
    if not isinstance(build, str) or "free-threading" not in build:
        return ""
    # What the workers read after their runs wins over what the interpreter was started with.
    for key in ("python_gil_measured", "python_gil"):
        state = environment.get(key)
        if state in ("enabled", "disabled"):
            return f"t GIL {'on' if state == 'enabled' else 'off'}"
    return "t"


def unique_labels(results: Sequence[ResultSet]) -> list[str]:
    """A label per file, unique among them: their own labels, else Python and host, else the
    file stems, numbered when those repeat."""
    for candidates in (
        [r.label for r in results],
        [_python_and_host(r) for r in results],
        [stem(r.path) for r in results],
    ):
        if all(candidates) and len(set(candidates)) == len(candidates):
            return candidates
    seen: Counter[str] = Counter()
    numbered = []
    for name in (stem(r.path) for r in results):
        seen[name] += 1
        numbered.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return numbered


def _python_and_host(result: ResultSet) -> str:
    version = result.environment.get("python_version")
    host = result.environment.get("hostname")
    if not isinstance(version, str) or not isinstance(host, str):
        return ""
    return f"{version.split()[0]}{_build_suffix(result.environment)}@{host}"


def stem(path: Path) -> str:
    """The file name without ``.json``, ``.json.gz`` or ``.gz``."""
    name = path.name
    for suffix in (".json.gz", ".gz", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
