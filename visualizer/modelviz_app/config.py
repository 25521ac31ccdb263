"""The configuration the operator mounts (``MODELVIZ_CONFIG``) or ``--config PATH`` names, validated with pydantic."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["CONFIG_ENV", "AppConfig", "ConfigError", "DatasetSpec", "ModelSpec", "config_path_from"]

CONFIG_ENV = "MODELVIZ_CONFIG"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ConfigError(ValueError):
    """A configuration that cannot be read or is invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ModelSpec(_Strict):
    name: str
    catalog: str | None = None
    path: Path | None = None
    labels: Path | None = None
    weights: Path | None = None

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a DNS label (lowercase letters, digits and '-', at most 63)")
        return value

    @field_validator("catalog")
    @classmethod
    def _known_catalog(cls, value: str | None) -> str | None:
        from modelviz_app.models import CATALOG_MODELS

        if value is not None and value not in CATALOG_MODELS:
            raise ValueError(f"unknown catalog model {value!r}; known: {', '.join(CATALOG_MODELS)}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.catalog is None) == (self.path is None):
            raise ValueError("set exactly one of catalog or path")
        if self.path is not None:
            if self.labels is None:
                raise ValueError("labels is required with path (a text file, one class name per line)")
            if self.path.suffix not in (".keras", ".h5"):
                raise ValueError(f"path must be a .keras or .h5 file, got {self.path.name!r}")
        if self.weights is not None and self.catalog is None:
            raise ValueError("weights applies to catalog models only")
        return self


class DatasetSpec(_Strict):
    catalog: str | None = None
    path: Path | None = None
    max_images: int | None = Field(default=None, alias="maxImages", ge=1)

    @field_validator("catalog")
    @classmethod
    def _known_catalog(cls, value: str | None) -> str | None:
        from modelviz_app.datasets import CATALOG_DATASETS

        if value is not None and value not in CATALOG_DATASETS:
            raise ValueError(f"unknown catalog dataset {value!r}; known: {', '.join(CATALOG_DATASETS)}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.catalog is None) == (self.path is None):
            raise ValueError("set exactly one of catalog or path")
        return self

    @property
    def label(self) -> str:
        return self.catalog or str(self.path)


class AppConfig(_Strict):
    title: str | None = None
    models: list[ModelSpec] = Field(min_length=1, max_length=8)
    dataset: DatasetSpec
    cache_dir: Path | None = Field(default=None, alias="cacheDir")
    # Predictions an evaluation Job wrote (a shared volume, read-only here): loaded instead of computed when present.
    predictions_dir: Path | None = Field(default=None, alias="predictionsDir")

    @field_validator("models")
    @classmethod
    def _unique_names(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        return value

    @classmethod
    def parse(cls, data: Any, source: str = "configuration") -> AppConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "(top level)"
                problems.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
            raise ConfigError(f"{source} is invalid: " + "; ".join(problems)) from None

    @classmethod
    def load(cls, path: str | Path) -> AppConfig:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping with models and dataset")
        return cls.parse(data, str(path))


def config_path_from(argv: list[str], environ: dict[str, str] | None = None) -> Path | None:
    """``--config PATH`` (or ``--config=PATH``) from the script's arguments, else ``$MODELVIZ_CONFIG``."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    value = (os.environ if environ is None else environ).get(CONFIG_ENV)
    return Path(value) if value else None
