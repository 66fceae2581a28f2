from __future__ import annotations

import importlib
import inspect
import pkgutil

import affiliate_sdk


def test_all_is_sorted_and_complete() -> None:
    exported = affiliate_sdk.__all__
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(affiliate_sdk, name), name
    public = {
        name
        for name, value in vars(affiliate_sdk).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
    }
    assert public <= set(exported), public - set(exported)


def test_every_module_declares_its_public_names() -> None:
    # (their order is ruff's isort-style order, which ruff check enforces)
    for info in pkgutil.walk_packages(affiliate_sdk.__path__, "affiliate_sdk."):
        module = importlib.import_module(info.name)
        names = getattr(module, "__all__", None)
        if info.name.rsplit(".", 1)[-1].startswith("_") and names is None:
            continue
        assert names is not None, f"{info.name} has no __all__"
        for name in names:
            assert hasattr(module, name), f"{info.name}.{name}"


def test_typed_marker_ships() -> None:
    from importlib.resources import files

    assert files("affiliate_sdk").joinpath("py.typed").is_file()


def test_every_subpackage_is_a_regular_package() -> None:
    # setuptools' find_packages (what builds the wheel) skips folders without __init__.py.
    from pathlib import Path

    source = Path(affiliate_sdk.__file__).resolve().parent
    folders = {path.parent for path in source.rglob("*.py") if "__pycache__" not in path.parts}
    missing = [str(f.relative_to(source)) for f in folders if not (f / "__init__.py").is_file()]
    assert missing == []
