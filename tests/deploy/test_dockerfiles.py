"""Static checks of Dockerfile.operator, Dockerfile.app and .dockerignore.

No container engine runs here, so the images are not built: their Dockerfiles are parsed and held to what the
project needs (stages, user, ports, extras and Debian packages that exist in pyproject.toml and scripts/setup).
The parser is small and local on purpose: the PyPI parsers are either unmaintained or wrap Go code, and only the
instructions below matter.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.dockerfiles import (
    APP,
    OPERATOR,
    REPO,
    Stage,
    final,
    parse_dockerfile,
    parse_key_values,
    stages_of,
)

DATA = Path(__file__).resolve().parent / "data"
DOCKERFILES = [OPERATOR, APP]
CACHE_DIR = "/opt/modelviz/cache"
# Anything that compiles: the final stages ship only what runs.
COMPILERS = {"gcc", "g++", "cc", "c++", "clang", "make", "build-essential", "libc6-dev", "python3-dev", "cpp"}


# --- Dockerfile parsing -------------------------------------------------------------------------------------------


def builders(path: Path) -> list[Stage]:
    return stages_of(path)[:-1]


def root_base(path: Path, stage: Stage) -> str:
    """The image a stage starts from, following ``FROM <earlier stage>``."""
    by_name = {s.name: s for s in stages_of(path) if s.name}
    base = stage.base
    while base in by_name:
        base = by_name[base].base
    return base


def shell_commands(run: str) -> list[list[str]]:
    """A RUN line split into simple commands at &&, ||, ;, | and redirections, each as words; quotes respected."""
    lexer = shlex.shlex(run, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set("&|;<>()"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def apt_packages(stage: Stage) -> set[str]:
    packages: set[str] = set()
    for run in stage.run_commands():
        for words in shell_commands(run):
            if words[:1] in (["apt-get"], ["apt"]) and "install" in words:
                packages |= {w for w in words[words.index("install") + 1 :] if not w.startswith("-")}
    return packages


def pip_extras(path: Path) -> set[str]:
    """Extras a Dockerfile installs: ``.[name]``, ``['optional-dependencies']['name']`` and the default of an
    ``EXTRAS`` build argument (``.[${EXTRAS}]``)."""
    text = path.read_text()
    groups = re.findall(r"\.\[([\w,\s-]+)\]", text) + re.findall(r"^ARG EXTRAS=([\w,-]+)$", text, re.MULTILINE)
    extras = {e.strip() for group in groups for e in group.split(",")}
    return extras | set(re.findall(r"\['optional-dependencies'\]\['([\w-]+)'\]", text))


# --- .dockerignore ------------------------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: * and ? within one path element, ** across any number of them."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


@cache
def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((exclude, _pattern_regex(pattern)))
    return rules


def ignored(relative: str) -> bool:
    """Whether the build context leaves this path out: the last rule matching it or a parent folder decides."""
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for exclude, regex in dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = exclude
    return verdict


# --- project facts ------------------------------------------------------------------------------------------------


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def setup_apt_packages() -> set[str]:
    match = re.search(r"^APT_PACKAGES=\(([^)]*)\)", (REPO / "scripts" / "setup").read_text(), re.MULTILINE)
    assert match, "scripts/setup no longer has an APT_PACKAGES=(...) line"
    return set(match.group(1).split())


def copy_sources(stage: Stage) -> list[str]:
    sources: list[str] = []
    for instruction in stage.all("COPY") + stage.all("ADD"):
        if "from" in instruction.flags:
            continue
        words = instruction.exec_form or shlex.split(instruction.args)
        sources += words[:-1]
    return sources


# --- the parser itself --------------------------------------------------------------------------------------------


def test_parser_on_tricky_syntax() -> None:
    stages = parse_dockerfile((DATA / "Dockerfile.parser-sample").read_text())
    assert [(s.base, s.name) for s in stages] == [
        ("python:3.11-slim-bookworm", "build"),
        ("python:3.11-slim-bookworm", None),
    ]
    build, last = stages
    assert apt_packages(build) == {"gcc", "libc6-dev"}
    assert build.env() == {"A": "1", "B": "two words", "C": "3", "LEGACY": "value with spaces"}
    copy = build.all("COPY")[0]
    assert copy.flags == {"chown": "1:1"} and copy.exec_form == ["a b.txt", "c.txt", "/dst/"]
    assert copy_sources(build) == ["a b.txt", "c.txt"]
    assert copy_sources(last) == []  # --from copies come from a stage, not the context
    assert last.all("EXPOSE")[0].args == "80/tcp 443"
    assert last.all("HEALTHCHECK")[0].flags == {"interval": "5s"}
    assert last.all("ENTRYPOINT")[0].exec_form == ["run", "it"]
    assert last.all("CMD")[0].exec_form is None


def test_dockerignore_matching() -> None:
    assert not ignored("operator/modelviz_operator/api.py")
    assert not ignored("pyproject.toml")
    for path in [".git/HEAD", ".venv/bin/python", "tests/deploy/x.py", "cluster/modelviz_cluster/cli.py",
                 "bench/modelviz_bench/__pycache__/runner.cpython-311.pyc", "artifacts/report.json",
                 "benchmarks/results.json", "Dockerfile.app", ".state/etcd"]:  # fmt: skip
        assert ignored(path), path


# --- both images --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_with_slim_final_base(path: Path) -> None:
    stages = stages_of(path)
    assert len(stages) >= 2, "build in a builder stage, ship only its result"
    base = final(path).base
    assert re.fullmatch(r"python:(\d+)\.(\d+)-slim(-\w+)?", base), f"final stage base {base} is not a slim Python"
    # The image's Python must be one the project supports.
    required = re.fullmatch(r">=(\d+)\.(\d+)", pyproject()["project"]["requires-python"])
    assert required, "update this test for the new requires-python form"
    image_python = tuple(int(n) for n in re.findall(r"\d+", base)[:2])
    assert image_python >= (int(required.group(1)), int(required.group(2)))
    for stage in builders(path):
        assert root_base(path, stage) == base, "every stage shares the base, so the venv's interpreter path matches"
    copied = [i for i in final(path).all("COPY") if i.flags.get("from")]
    assert {"/opt/venv"} <= {i.args.split()[0] for i in copied}, "the venv comes from the builder"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_as_numeric_non_root_user(path: Path) -> None:
    users = final(path).all("USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].args
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert match, f"USER {user} is not numeric: runAsNonRoot cannot verify a name"
    assert int(match.group(1)) == 10001 and int(match.group(2) or 1) != 0


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_installs_no_compiler(path: Path) -> None:
    stage = final(path)
    assert apt_packages(stage) & COMPILERS == set()
    for run in stage.run_commands():
        words = {w for command in shell_commands(run) for w in command}
        assert words & COMPILERS == set(), f"compiler in final stage: {run}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_and_are_in_the_build_context(path: Path) -> None:
    for stage in stages_of(path):
        for source in copy_sources(stage):
            target = REPO / source
            assert target.exists(), f"{path.name}: COPY {source} does not exist"
            assert not ignored(source), f"{path.name}: COPY {source} is excluded by .dockerignore"
            files = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target]
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                if "__pycache__" in file.parts or file.suffix == ".pyc":
                    continue
                assert not ignored(relative), f"{path.name}: {relative} (under COPY {source}) is excluded"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_apt_installs_are_lean(path: Path) -> None:
    for stage in stages_of(path):
        for run in stage.run_commands():
            if "apt-get install" in run:
                assert "--no-install-recommends" in run
                assert "rm -rf /var/lib/apt/lists/*" in run, "clean the lists in the same layer"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_oci_labels(path: Path) -> None:
    labels: dict[str, str] = {}
    for instruction in final(path).all("LABEL"):
        labels.update(parse_key_values(instruction.args))
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}" in labels
    assert labels["org.opencontainers.image.licenses"] == pyproject()["project"]["license"]


@pytest.mark.parametrize(
    ("path", "extra", "packages"),
    [
        (OPERATOR, {"operator"}, {"operator", "bench", "cli"}),
        # tensorflow only in the builder stage, which prepares the models.
        (APP, {"app", "tensorflow"}, {"visualizer", "cli"}),
    ],
    ids=["operator", "app"],
)
def test_installs_its_extra_and_packages(path: Path, extra: set[str], packages: set[str]) -> None:
    extras = pip_extras(path)
    assert extras == extra, f"{path.name} installs extras {extras}"
    assert extra <= set(pyproject()["project"]["optional-dependencies"])
    wheel_roots = {p.split("/")[0] for p in pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]}
    copied = {source.strip("/") for stage in builders(path) for source in copy_sources(stage)}
    copied_packages = copied & wheel_roots
    assert copied_packages == packages, f"{path.name} builds from {copied_packages}"
    # hatchling reads the readme while building the wheel's metadata.
    assert {"pyproject.toml", pyproject()["project"]["readme"]} <= copied


def test_debian_packages_are_those_scripts_setup_installs() -> None:
    allowed = setup_apt_packages()
    for path in DOCKERFILES:
        for stage in stages_of(path):
            assert apt_packages(stage) <= allowed, f"{path.name}: {apt_packages(stage) - allowed} not in scripts/setup"
    assert apt_packages(final(OPERATOR)) == {"apache2-utils"}  # ab, for the benchmark Job
    assert apt_packages(final(APP)) == {"dataset-fashion-mnist"}  # read by the fashion-mnist dataset
    # and in the builder, whose `modelviz app prepare` trains on it
    assert any("dataset-fashion-mnist" in apt_packages(stage) for stage in builders(APP))


# --- operator image -----------------------------------------------------------------------------------------------


@cache
def cli_commands() -> set[str]:
    sys.path.insert(0, str(REPO / "cli"))
    try:
        from modelviz_cli.__main__ import COMMANDS
    finally:
        sys.path.remove(str(REPO / "cli"))
    return set(COMMANDS)


def test_operator_entrypoint_ports_and_bench() -> None:
    stage = final(OPERATOR)
    entrypoint = stage.all("ENTRYPOINT")[-1].exec_form
    assert entrypoint in (["modelviz", "operator"], ["python", "-m", "modelviz_operator"])
    assert "modelviz" in pyproject()["project"]["scripts"] and "operator" in cli_commands()
    assert (REPO / "operator" / "modelviz_operator" / "__main__.py").is_file()
    assert {p for i in stage.all("EXPOSE") for p in i.args.split()} == {"8080", "9090"}
    # The benchmark Job runs `python -m modelviz_bench` in this image.
    assert (REPO / "bench" / "modelviz_bench" / "__main__.py").is_file()
    assert "/opt/venv/bin" in stage.env()["PATH"].split(":")[0]


# --- app image ----------------------------------------------------------------------------------------------------


def test_app_bakes_prepared_models_into_the_cache() -> None:
    prepared = False
    for stage in builders(APP):
        env: dict[str, str] = {}
        for instruction in stage.instructions:
            if instruction.keyword == "ENV":
                env.update(parse_key_values(instruction.args))
            if instruction.keyword == "RUN" and "modelviz app prepare" in instruction.args:
                inline = re.search(r"MODELVIZ_CACHE=(\S+)\s+modelviz app prepare", instruction.args)
                assert (inline.group(1) if inline else env.get("MODELVIZ_CACHE")) == CACHE_DIR
                prepared = True
    assert prepared, "the builder must run `modelviz app prepare`"
    stage = final(APP)
    assert stage.env()["MODELVIZ_CACHE"] == CACHE_DIR
    copies = [i.args.split() for i in stage.all("COPY") if i.flags.get("from")]
    assert [CACHE_DIR, CACHE_DIR] in copies, "the prepared cache is copied from the builder"
    assert "app" in cli_commands()


def test_app_serves_on_8501_with_a_python_healthcheck() -> None:
    stage = final(APP)
    assert stage.all("CMD")[-1].exec_form == ["modelviz", "app", "serve", "--address", "0.0.0.0", "--port", "8501"]
    assert not stage.all("ENTRYPOINT")
    assert [i.args for i in stage.all("EXPOSE")] == ["8501"]
    healthcheck = stage.all("HEALTHCHECK")[-1]
    assert healthcheck.args.startswith("CMD ")
    command = json.loads(healthcheck.args[len("CMD ") :])
    assert command[0] == "python", "the slim image has no curl or wget"
    assert "http://127.0.0.1:8501/_stcore/health" in command[-1]


def test_app_serves_without_tensorflow() -> None:
    """TensorFlow (the `tensorflow` extra) only where models are prepared; the served venv has LiteRT instead."""
    extras = pyproject()["project"]["optional-dependencies"]
    assert not any(d.startswith(("tensorflow", "keras")) for d in extras["app"]), extras["app"]
    assert any(d.startswith("ai-edge-litert") for d in extras["app"])
    assert any(d.startswith("tensorflow") for d in extras["tensorflow"])
    defaults = set(re.findall(r"^ARG EXTRAS=(\S+)$", APP.read_text(), re.MULTILINE))
    assert defaults == {"app"}, f"every stage's EXTRAS default must be the same: {defaults}"
    (venv_copy,) = [i for i in final(APP).all("COPY") if i.args.split()[0] == "/opt/venv"]
    by_name = {s.name: s for s in stages_of(APP)}
    served = by_name[venv_copy.flags["from"]]
    assert any(".[${EXTRAS}]" in run for run in served.run_commands()), served.run_commands()
    assert not any("tensorflow" in run for run in served.run_commands())
