"""What a build reads: the Dockerfile's COPY sources filtered by .dockerignore, hashed to decide whether to rebuild.

The matcher follows Docker's rules (moby's patternmatcher), not gitignore's: each pattern is tested against the path
and every parent directory, ``*`` stays within one path element, ``**`` crosses them, and the last matching pattern
wins (``!`` re-includes). The PyPI gitignore matchers differ exactly there, hence these few lines.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["DockerIgnore", "content_hash", "copy_sources", "logical_lines"]


def logical_lines(text: str) -> list[str]:
    """Instructions with continuations joined; comments and blank lines dropped (also inside a continuation)."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def copy_sources(dockerfile: Path) -> list[str]:
    """Build-context sources of COPY/ADD instructions (``--from`` copies read another stage, not the context)."""
    sources: list[str] = []
    for line in logical_lines(dockerfile.read_text(encoding="utf-8")):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() not in ("COPY", "ADD"):
            continue
        words = shlex.split(rest)
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue
        paths = [w for w in words if not w.startswith("--")]
        sources.extend(p.rstrip("/") or "." for p in paths[:-1])
    return list(dict.fromkeys(sources))  # once each, in order of first use


def _regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):  # "**/" also matches no directory at all
                out = out[:-2] + "(?:.*/)?"
                i += 1
            continue
        end = pattern.find("]", i + 1) if c == "[" else -1
        if end > i:  # a character class, as in "*.py[cod]"
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = end + 1
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


class DockerIgnore:
    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = line[1:].strip() if include else line
            pattern = pattern.strip("/") or "."
            self.rules.append((include, _regex(pattern)))

    @classmethod
    def of(cls, context: Path) -> DockerIgnore:
        path = context / ".dockerignore"
        return cls(path.read_text(encoding="utf-8") if path.exists() else "")

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for include, regex in self.rules:
            if any(regex.match(c) for c in candidates):
                verdict = not include
        return verdict


def _files(context: Path, sources: Iterable[str], ignore: DockerIgnore) -> Iterator[Path]:
    for source in sources:
        root = context / source
        if not root.exists():
            raise FileNotFoundError(f"COPY source {source} does not exist in {context}")
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if not ignore.excluded(path.relative_to(context).as_posix()):
                yield path


def content_hash(context: Path, dockerfile: Path, extra: Iterable[str] = ()) -> str:
    """sha256 over the Dockerfile, every file its COPY instructions take from the context (path and bytes) and
    ``extra`` (base image id, build arguments): equal hashes mean an identical build."""
    digest = hashlib.sha256()
    digest.update(dockerfile.read_bytes())
    ignore = DockerIgnore.of(context)
    for path in sorted(set(_files(context, copy_sources(dockerfile), ignore))):
        digest.update(b"\0" + path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for item in extra:
        digest.update(b"\0" + item.encode())
    return digest.hexdigest()
