"""Serving: the app's ASGI parts (prediction API with micro-batching, metrics, page shell) around the pages."""

from __future__ import annotations

__all__: list[str] = []
