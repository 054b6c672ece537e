"""Reading an experiment file: strict YAML (duplicate keys refused) with one-line, file:line:column errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from cfmarl.envs.validation import ConfigError
from cfmarl.registry import DEFAULT_ENV


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            m = key_node.start_mark
            raise ConfigError(f"{loader.name}:{m.line + 1}:{m.column + 1}: key {key!r} given twice in one mapping "
                              f"(first at line {seen[key] + 1})")
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def read_yaml(path: str | Path) -> dict:
    """An experiment file's mapping: one-line errors with file:line:column for YAML syntax errors and
    duplicate keys; an empty file or one without an ``env`` section is refused (it would silently run
    the defaults)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {str(path)!r} not found")
    loader = _StrictLoader(path.read_text())
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        m = exc.problem_mark or exc.context_mark
        where = f"{path}:{m.line + 1}:{m.column + 1}" if m is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError(f"{path}: the file is empty; an experiment needs at least `name` and an `env` section "
                          f"(tune_configs/README.md)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of sections, got {type(data).__name__}")
    if "env" not in data:
        raise ConfigError(f"{path}: no `env` section; say which env to run (e.g. env: {{name: {DEFAULT_ENV}}}) "
                          f"instead of relying on defaults")
    return data
