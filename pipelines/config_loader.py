"""Loads frozen dataclass configs from YAML overrides, validating every key and type.

Each task defines its own frozen dataclasses (see `pipelines/classification/config.py`); this module
only knows how to turn a nested mapping into such a dataclass. Unknown keys are an error naming the
full key path, and so is a value of the wrong type.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, Mapping, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
  """A config file or override is invalid; the message names the key and the reason."""


def _type_name(tp: Any) -> str:
  return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
  """Converts a YAML value to `tp`, raising ConfigError with `path` on mismatch."""
  origin = typing.get_origin(tp)
  args = typing.get_args(tp)
  if tp is Any:
    return value
  if origin in (typing.Union, types.UnionType):
    if value is None and type(None) in args:
      return None
    errors = []
    for arg in args:
      if arg is type(None):
        continue
      try:
        return _coerce(value, arg, path)
      except ConfigError as e:
        errors.append(str(e))
    raise ConfigError(f"{path}: {value!r} matches none of {[_type_name(a) for a in args]}")
  if origin is typing.Literal:
    if value not in args:
      raise ConfigError(f"{path}: {value!r} is not one of {list(args)}")
    return value
  if origin is tuple:
    if not isinstance(value, (list, tuple)):
      raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
    if len(args) == 2 and args[1] is Ellipsis:
      return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
    if len(args) != len(value):
      raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
    return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(args, value)))
  if origin is dict:
    if not isinstance(value, Mapping):
      raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    return {_coerce(k, args[0], path): _coerce(v, args[1], f"{path}.{k}") for k, v in value.items()}
  if dataclasses.is_dataclass(tp):
    if isinstance(value, tp):
      return value
    return from_dict(tp, value, path)
  if tp is float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise ConfigError(f"{path}: expected a number, got {value!r}")
    return float(value)
  if tp is int:
    if isinstance(value, bool) or not isinstance(value, int):
      raise ConfigError(f"{path}: expected an integer, got {value!r}")
    return value
  if tp is bool:
    if not isinstance(value, bool):
      raise ConfigError(f"{path}: expected true or false, got {value!r}")
    return value
  if tp is str:
    if not isinstance(value, str):
      raise ConfigError(f"{path}: expected a string, got {value!r}")
    return value
  raise ConfigError(f"{path}: unsupported config type {_type_name(tp)}")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, path: str = "") -> T:
  """Builds dataclass `cls` from `data`, keeping defaults for absent keys.

  Raises:
    ConfigError: on an unknown key, a value of the wrong type, or a failed `validate()`.
  """
  if data is None:
    data = {}
  if not isinstance(data, Mapping):
    raise ConfigError(f"{path or '<top>'}: expected a mapping, got {type(data).__name__}")
  hints = typing.get_type_hints(cls)
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(data) - set(fields))
  if unknown:
    where = f" in '{path}'" if path else ""
    raise ConfigError(
        f"unknown config key{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(repr(f'{path}.{k}' if path else k) for k in unknown)}{where}; "
        f"allowed: {', '.join(sorted(fields))}")
  kwargs = {}
  for name, value in data.items():
    field = fields[name]
    if (isinstance(value, Mapping) and dataclasses.is_dataclass(hints[name])
        and field.default_factory is not dataclasses.MISSING):
      # A partial override of a nested section starts from the field's own default, which may
      # differ from the section class's defaults (e.g. another loss for another task).
      value = deep_merge(to_dict(field.default_factory()), value)
    kwargs[name] = _coerce(value, hints[name], f"{path}.{name}" if path else name)
  # Nested dataclasses absent from `data` keep their defaults.
  obj = cls(**kwargs)
  validate = getattr(obj, "validate", None)
  if validate is not None:
    try:
      validate()
    except ValueError as e:
      raise ConfigError(f"{path or cls.__name__}: {e}") from None
  return obj


def to_dict(obj: Any) -> dict[str, Any]:
  """The inverse of `from_dict`: plain dicts/lists, ready for YAML or JSON."""

  def plain(v):
    if dataclasses.is_dataclass(v):
      return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (tuple, list)):
      return [plain(x) for x in v]
    if isinstance(v, dict):
      return {k: plain(x) for k, x in v.items()}
    return v

  return plain(obj)


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
  """Reads a YAML mapping, naming the file in every error."""
  try:
    with open(path, encoding="utf-8") as f:
      data = yaml.safe_load(f)
  except OSError as e:
    raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None
  except yaml.YAMLError as e:
    raise ConfigError(f"{path}: invalid YAML: {e}") from None
  if data is None:
    return {}
  if not isinstance(data, dict):
    raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
  return data


def load(cls: type[T], path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> T:
  """Loads `cls` from defaults, then the YAML file at `path`, then `overrides` (merged deeply).

  Raises:
    ConfigError: naming the file and the key when anything is invalid.
  """
  data: dict[str, Any] = read_yaml(path) if path else {}
  if overrides:
    data = deep_merge(data, overrides)
  try:
    return from_dict(cls, data)
  except ConfigError as e:
    raise ConfigError(f"{path}: {e}" if path else str(e)) from None


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
  """`base` with `extra` merged in: mappings key by key, anything else replaced by `extra`'s."""
  out = dict(base)
  for k, v in extra.items():
    if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
      out[k] = deep_merge(out[k], v)
    else:
      out[k] = v
  return out
