"""Package hygiene: sorted public __all__, typed markers, one exception root, no prints in the library."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import psm_core
import psm_core.errors

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ["psm_core", "langchain_psm", "llamaindex_psm"]


def _isort_key(name: str) -> tuple[int, str]:
    """ruff RUF022 "isort-style": SCREAMING_CASE, then CamelCase, then the rest."""
    group = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return group, name.replace("_", " ").lower() if group else name.replace("_", " ")


def _is_sorted(names: list[str]) -> bool:
    return names == sorted(names) or names == sorted(names, key=_isort_key)


def _modules(pkg: str) -> list[Path]:
    return sorted((ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("pkg", LIBRARIES)
def test_public_all_is_sorted_and_resolves(pkg: str) -> None:
    if not (ROOT / pkg / "__init__.py").exists():
        pytest.skip(f"{pkg} is not built yet")
    try:
        module = importlib.import_module(pkg)
    except ImportError as exc:
        pytest.skip(f"{pkg} extra not installed: {exc}")
    names = list(module.__all__)
    assert _is_sorted(names)
    for name in names:
        assert hasattr(module, name), name


@pytest.mark.parametrize("pkg", LIBRARIES)
def test_py_typed(pkg: str) -> None:
    if not (ROOT / pkg / "__init__.py").exists():
        pytest.skip(f"{pkg} is not built yet")
    assert (ROOT / pkg / "py.typed").exists()


def test_every_module_all_is_sorted() -> None:
    for path in [p for pkg in LIBRARIES for p in _modules(pkg)]:
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                names = [e.value for e in node.value.elts]  # type: ignore[attr-defined]
                assert _is_sorted(names), path


def test_one_exception_root() -> None:
    for _, cls in inspect.getmembers(psm_core.errors, inspect.isclass):
        if issubclass(cls, Exception) and cls.__module__ == "psm_core.errors":
            assert issubclass(cls, psm_core.PSMError)


def test_no_print_in_library_code() -> None:
    allowed = {"cli.py", "commands.py"}
    offenders = []
    for pkg in LIBRARIES:
        for path in _modules(pkg):
            if path.name in allowed or path.name.endswith("cli.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    offenders.append(f"{path}:{node.lineno}")
    assert offenders == []


def test_only_stores_import_chromadb() -> None:
    for path in _modules("psm_core"):
        if "stores" in path.parts:
            continue
        assert "import chromadb" not in path.read_text(), path


def test_core_imports_no_adapters() -> None:
    for path in _modules("psm_core"):
        text = path.read_text()
        assert "import langchain" not in text and "import llama_index" not in text, path
