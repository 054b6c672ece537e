"""Layout rules of DESIGN.md that a refactor could silently break."""

import ast
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAPPING = {"cfmarl": "cfmarl", "envs": "cfmarl.envs", "policies": "cfmarl.policies"}


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in MAPPING.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *rel)))
    assert found == listed


def test_envs_never_import_torch_or_ray():
    for path in (ROOT / "envs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                assert n.split(".")[0] not in ("torch", "ray", "torch_geometric"), f"{path} imports {n}"


def test_installed_names_resolve():
    import cfmarl.envs.ap_selection_v0
    import cfmarl.policies.baselines.ap_selection  # noqa: F401

    assert cfmarl.envs.ap_selection_v0.__file__.startswith(str(ROOT / "envs"))
