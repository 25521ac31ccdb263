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
    if parsed is None or not _suffix_ok(parsed[3]):
        return False
    _, num, denom, suffix = parsed
    if _fast_path(num, denom, suffix):
        return True
    # The slow path parses the text before the suffix as a decimal (inf.Dec.SetString): "Ei" alone has no digits.
    return any(c.isdigit() for c in text[: len(text) - len(suffix)])


_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _fast_path(num: str, denom: str, suffix: str) -> bool:
    """Whether ParseQuantity takes its int64 fast path (it reads only the digits) for this number and suffix."""
    if suffix in _BINARY:
        exponent = _BINARY[suffix]
        if denom:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        scale = 0
    else:
        exponent = _DECIMAL[suffix] if suffix in _DECIMAL else int(suffix[1:])
        precision = 18 - (len(num) + len(denom))
        scale = exponent
    return precision >= 0 and scale - len(denom) >= -9


def is_nonnegative_quantity(value: str | int) -> bool:
    """A quantity whose sign is not negative (what a resource request or limit may be)."""
    if not is_quantity(value):
        return False
    parsed = _parse(str(value)) if str(value) != "0" else (True, "0", "", "")
    assert parsed is not None
    positive, num, denom, _ = parsed
    return positive or set(num + denom) <= {"0"}
