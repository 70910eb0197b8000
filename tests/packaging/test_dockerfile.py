"""The Dockerfile, checked without a Docker daemon: its instructions are parsed and its install steps are run
for real in a fresh venv, in a temp dir laid out like the image's /airbyte/integration_code."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scripts.spec_tables import ROOT

from destination_dust.config import load_spec

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
IMAGE_WORKDIR = "/airbyte/integration_code"


def parse_dockerfile(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, `\\` continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in instructions:
        if keyword == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def entrypoint_of(instructions: list[tuple[str, str]]) -> list[str]:
    entrypoints = [args for keyword, args in instructions if keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1, "exactly one ENTRYPOINT"
    value = json.loads(entrypoints[0])  # exec form only: the platform passes spec/check/write as arguments
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def copies_of(instructions: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    result = []
    for keyword, args in instructions:
        if keyword == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            result.append((parts[:-1], parts[-1]))
    return result


def workdir_of(instructions: list[tuple[str, str]]) -> str:
    workdirs = [args for keyword, args in instructions if keyword == "WORKDIR"]
    assert workdirs, "no WORKDIR"
    return workdirs[-1]


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Enough of Docker's matcher for our file: a path is excluded when it or a parent matches a pattern."""
    verdict = False
    parts = relative.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatch(prefix, pat) or (
                pat.startswith("**/") and fnmatch.fnmatch(parts[i - 1], pat[3:])
            ):
                verdict = not negate
                break
    return verdict


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return parse_dockerfile()


def test_from_is_python_connector_base_4x_pinned_by_digest(instructions: list[tuple[str, str]]) -> None:
    assert instructions[0][0] == "FROM", "FROM must come first"
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(
        r"(docker\.io/)?airbyte/python-connector-base:4\.\d+\.\d+@sha256:[0-9a-f]{64}", froms[0]
    )


def test_workdir_is_the_platform_code_dir(instructions: list[tuple[str, str]]) -> None:
    assert workdir_of(instructions) == IMAGE_WORKDIR


def test_airbyte_entrypoint_env_equals_entrypoint(instructions: list[tuple[str, str]]) -> None:
    env = env_of(instructions)
    assert "AIRBYTE_ENTRYPOINT" in env
    assert shlex.split(env["AIRBYTE_ENTRYPOINT"]) == entrypoint_of(instructions)


def test_image_runs_as_the_unprivileged_airbyte_user(instructions: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in instructions if keyword == "USER"]
    # the base image's default is `airbyte`; switching to root for the install must be undone
    assert not users or users[-1] == "airbyte"
    last_user_at = max((i for i, (k, _) in enumerate(instructions) if k == "USER"), default=-1)
    assert all(k != "RUN" for k, _ in instructions[last_user_at + 1 :]), "no RUN after the final USER"


def test_copy_sources_exist_are_not_dockerignored_and_cover_the_entrypoint(
    instructions: list[tuple[str, str]],
) -> None:
    patterns = dockerignore_patterns()
    copied: set[str] = set()
    for sources, _dest in copies_of(instructions):
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source {source} does not exist"
            assert not ignored(source.rstrip("/"), patterns), (
                f"COPY source {source} is excluded by .dockerignore"
            )
            copied.add(source.rstrip("/"))
    # what `pip install .` needs: pyproject, the README it names, the packages and their data files
    assert {"pyproject.toml", "README.md", "src"} <= copied
    for arg in entrypoint_of(instructions):
        if arg.startswith(IMAGE_WORKDIR + "/"):
            assert arg[len(IMAGE_WORKDIR) + 1 :] in copied, f"the entrypoint runs {arg}, which is not copied"
    for leftover in (".venv", ".git", ".cache", "tests", "src/__pycache__/x.pyc", "foo.db"):
        assert ignored(leftover, patterns), f".dockerignore should exclude {leftover}"


def _mirror_copies(instructions: list[tuple[str, str]], root: Path) -> Path:
    """Lay out COPY sources under root as the image has them (Docker semantics: a directory source copies its
    contents into the destination; files go into a destination that ends with `/` or has several sources)."""
    workdir = root / workdir_of(instructions).lstrip("/")
    workdir.mkdir(parents=True)
    patterns = dockerignore_patterns()

    def skip(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if ignored(os.path.relpath(os.path.join(directory, n), ROOT), patterns)]

    for sources, dest in copies_of(instructions):
        target = root / dest.lstrip("/") if dest.startswith("/") else workdir / dest
        for source in sources:
            src = ROOT / source
            if src.is_dir():
                shutil.copytree(src, target, dirs_exist_ok=True, ignore=skip)
            elif dest.endswith("/") or len(sources) > 1:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / src.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
    return workdir


@pytest.mark.slow
def test_install_steps_run_in_a_fresh_venv_and_the_entrypoint_prints_spec(
    instructions: list[tuple[str, str]], tmp_path: Path
) -> None:
    workdir = _mirror_copies(instructions, tmp_path / "image")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}},
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
    }
    env.update(env_of(instructions))
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any(re.search(r"\bpip3? install\b", r) for r in runs), "no pip install step"
    for command in runs:
        # `pip` and `python` resolve to the fresh venv (first on PATH), as to the image's Python
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=workdir,
            env=env,
            capture_output=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"RUN {command} failed:\n{proc.stderr.decode(errors='replace')[-3000:]}"
    image_root = str(tmp_path / "image")
    argv = [a.replace(IMAGE_WORKDIR, image_root + IMAGE_WORKDIR) for a in entrypoint_of(instructions)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([*argv, "spec"], cwd=elsewhere, env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    specs = [m for m in messages if m.get("type") == "SPEC"]
    assert len(specs) == 1, messages
    assert specs[0]["spec"]["connectionSpecification"] == load_spec()["connectionSpecification"]

    # the package itself (not only main.py's sys.path trick) is installed: console script, package data
    proc = subprocess.run(
        [str(venv / "bin" / "destination-dust"), "spec"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert json.loads(proc.stdout.splitlines()[0])["type"] == "SPEC"
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import destination_dust, dust_emulator; "
            "print(destination_dust.__file__); print(dust_emulator.__file__)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert all("site-packages" in p for p in where), where
    # package data made it into the wheel: the spec (used above) and the emulator's web page
    ui_dir = Path(where[1]).parent / "ui"
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in ui_dir.iterdir()}, ui_dir
    # the install left no build litter in the image layer
    assert not (workdir / "build").exists()
