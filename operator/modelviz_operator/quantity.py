"""Kubernetes resource quantities as the API server parses them (``resource.ParseQuantity``, which CEL's
``isQuantity`` calls), so the operator's model accepts exactly the quantities the CRD's rules accept.

A port of k8s.io/apimachinery/pkg/api/resource's parseQuantityString and suffix rules, including their leniency
("-", "." and "1." parse as quantities there, so they do here).
"""

from __future__ import annotations

__all__ = ["is_nonnegative_quantity", "is_quantity"]

_SUFFIX_CHARS = set("eEinumkKMGTP")
_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
_INT64 = 2**63


def _parse(text: str) -> tuple[bool, str, str, str] | None:
    """(positive, numerator, denominator, suffix), or None when the Go parser reports a format error."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return positive, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos].isascii() and text[pos].isdigit():
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, num, denom, ""
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    if pos < end:
        return None
    return positive, num, denom, text[suffix_start:]


def _suffix_ok(suffix: str) -> bool:
    if suffix in _SUFFIXES:
        return True
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[:1] in ("+", "-") else digits
        # strconv.ParseInt(s, 10, 64): optional sign, ASCII digits, within int64.
        return bool(body) and body.isascii() and body.isdigit() and -_INT64 <= int(digits) < _INT64
    return False


def is_quantity(value: str | int) -> bool:
    """Whether ``resource.ParseQuantity`` accepts the text (an int is written in decimal, as CEL's string() does)."""
    text = str(value)
    if text == "":
        return False
    if text == "0":
        return True
    parsed = _parse(text)
    return parsed is not None and _suffix_ok(parsed[3])


def is_nonnegative_quantity(value: str | int) -> bool:
    """A quantity whose sign is not negative (what a resource request or limit may be)."""
    if not is_quantity(value):
        return False
    parsed = _parse(str(value)) if str(value) != "0" else (True, "0", "", "")
    assert parsed is not None
    positive, num, denom, _ = parsed
    return positive or set(num + denom) <= {"0"}
