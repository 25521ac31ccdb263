"""Reading the project's Dockerfiles: instructions, stages, arguments (for the Dockerfile and image checks)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


OPERATOR = REPO / "Dockerfile.operator"


APP = REPO / "Dockerfile.app"


# Instructions that take --name=value flags before their arguments (ENV or LABEL values may start with -- too).
FLAGGED = {"FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"}


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # after the keyword and its --flags, continuations joined
    line: int
    flags: dict[str, str] = field(default_factory=dict)

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of exec form (RUN/CMD/ENTRYPOINT/COPY), or None for shell form."""
        if not self.args.startswith("["):
            return None
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None  # Docker too falls back to shell form for invalid JSON
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Stage:
    base: str  # with build arguments substituted
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            values.update(parse_key_values(instruction.args))
        return values

    def run_commands(self) -> list[str]:
        return [i.args for i in self.all("RUN")]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines; drop comments and blank lines, also inside a continuation, as BuildKit does."""
    result: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue  # also the parser directives (# syntax=...), which nothing here needs
        if current and (not stripped or stripped.startswith("#")):
            continue
        if not current:
            start = number
        if raw.rstrip().endswith("\\"):
            current.append(raw.rstrip()[:-1].strip())
            continue
        current.append(stripped)
        result.append((start, " ".join(part for part in current if part)))
        current = []
    if current:
        result.append((start, " ".join(part for part in current if part)))
    return result


def split_flags(rest: str) -> tuple[dict[str, str], str]:
    """Leading ``--name=value`` (or bare ``--name``) flags of an instruction, and what follows them."""
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        name, _, value = token[2:].partition("=")
        flags[name] = value
        rest = rest.lstrip()
    return flags, rest


def substitute(value: str, args: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return args.get(match.group(1) or match.group(2), "")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, value)


def parse_key_values(args: str) -> dict[str, str]:
    """``ENV``/``LABEL`` arguments: ``k=v k2="v 2"``, or the legacy ``ENV key value with spaces``."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(token.split("=", 1) for token in tokens)


def parse_dockerfile(text: str) -> list[Stage]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, content in logical_lines(text):
        keyword, _, rest = content.partition(" ")
        keyword = keyword.upper()
        flags, rest = split_flags(rest.strip()) if keyword in FLAGGED else ({}, rest)
        instruction = Instruction(keyword, rest.strip(), line, flags)
        if keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(substitute(words[0], global_args), name))
        elif not stages:
            assert keyword == "ARG", f"line {line}: only ARG may come before the first FROM, not {keyword}"
            key, _, default = instruction.args.partition("=")
            global_args[key] = default.strip("\"'")
        else:
            stages[-1].instructions.append(instruction)
    return stages


@cache
def stages_of(path: Path) -> list[Stage]:
    return parse_dockerfile(path.read_text())


def final(path: Path) -> Stage:
    return stages_of(path)[-1]
