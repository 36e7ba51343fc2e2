"""Running the real runner in tests, and finding any process a run left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from bench.results import schema

ROOT = Path(__file__).resolve().parent.parent
FAULTY_MODELS = Path(__file__).resolve().parent / "faulty_models"


def faulty_model_dir(tmp_path: Path) -> Path:
    """A private copy of the faulty models. Its path, which the runner forwards to every
    worker in CONCBENCH_MODEL_PATH, tags every process of the run for ``leftovers``."""
    target = tmp_path / "models"
    shutil.copytree(FAULTY_MODELS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def runner_env(model_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CONCBENCH_MODEL_PATH", None)
    if model_dir is not None:
        env["CONCBENCH_MODEL_PATH"] = str(model_dir)
    return env


def run_runner(
    *args: str, model_dir: Path | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runners.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=runner_env(model_dir),
    )


def start_runner(*args: str, model_dir: Path | None = None) -> subprocess.Popen[str]:
    # A session of its own, as a terminal would give it: the test's signals reach it alone.
    return subprocess.Popen(
        [sys.executable, "-m", "runners.run", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=runner_env(model_dir),
        start_new_session=True,
    )


def leftovers(tag: Path) -> list[str]:
    """Processes whose environment or command line mentions ``tag``, and zombies they hold
    (a zombie stays only while its parent lives without reaping it; that parent is tagged)."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            zombies = [
                child.pid for child in process.children() if child.status() == psutil.STATUS_ZOMBIE
            ]
            mentions = str(tag) in " ".join(process.cmdline()) or any(
                str(tag) in value for value in process.environ().values()
            )
        except psutil.Error:
            continue
        if mentions:
            found.append(f"pid {process.pid}: {' '.join(process.cmdline())} zombies {zombies}")
    return found


def kill_leftovers(tag: Path) -> None:
    """Clean up after a failing test, so one failure does not leave processes for the next."""
    for process in psutil.process_iter():
        try:
            if any(str(tag) in value for value in process.environ().values()):
                process.kill()
        except psutil.Error:
            continue


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def names(path: Path) -> set[str]:
    return {entry.name for entry in schema.load(path).entries}


def gaps(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {gap["name"]: gap for gap in data["concbench"]["gaps"]}
