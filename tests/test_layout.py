"""The house rules of the package layout, read from the source with ``ast``.

- No module imports another module's ``_private`` name: what is shared is public.
- The domain never imports the web layer, the CLI or the console: only they import each
  other, and the composition root (bot/runtime/process.py) may start the web server.
- No two modules at the root of bot/ share a prefix (``ledger.py`` + ``ledger_sql.py`` is a
  package that wants to exist).
- The sandbox keeps one folder per platform: bot/sandbox/x/ and bot/sandbox/graph/.
- No test imports from a conftest: conftests hold fixtures, and what tests share by import
  lives in tests/support/.

Each rule is also run on a small tree that breaks it, so a rule that stopped finding
anything would fail here rather than pass in silence.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"

UPPER_LAYERS = ("bot.web", "bot.cli", "bot.console")
# The one module below the CLI that composes a running process, web server included.
COMPOSITION_ROOT = "bot.runtime.process"
COMPOSITION_MAY_IMPORT = ("bot.web", "bot.console")


def _modules(root: Path) -> Iterator[tuple[str, Path, ast.Module]]:
    """(dotted name, path, tree) of every module under the package directory ``root``."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path, ast.parse(path.read_text(), str(path))


def _imports(name: str, path: Path, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything the module imports, relative imports resolved,
    including imports inside functions (the lazy ones)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _is_private(dotted: str) -> bool:
    return any(p.startswith("_") and not p.startswith("__") for p in dotted.split("."))


def private_imports(root: Path) -> set[tuple[str, str]]:
    """(importer, imported name) for every ``_private`` name a module takes from another."""
    found = set()
    for name, path, tree in _modules(root):
        for _, dotted in _imports(name, path, tree):
            if _is_private(dotted) and dotted.rsplit(".", 1)[0] != name:
                found.add((name, dotted))
    return found


def upward_imports(root: Path) -> set[tuple[str, str]]:
    """(importer, imported) where a module outside the web layer, the CLI and the console
    imports one of them (the composition root may import the web layer and console)."""
    top = root.name
    upper = tuple(layer.replace("bot", top, 1) for layer in UPPER_LAYERS)
    allowed = tuple(layer.replace("bot", top, 1) for layer in COMPOSITION_MAY_IMPORT)
    composition = COMPOSITION_ROOT.replace("bot", top, 1)
    found = set()
    for name, path, tree in _modules(root):
        if _within(name, upper):
            continue
        for _, dotted in _imports(name, path, tree):
            if not _within(dotted, upper):
                continue
            if name == composition and _within(dotted, allowed):
                continue
            found.add((name, dotted))
    return found


def _within(dotted: str, packages: tuple[str, ...]) -> bool:
    return any(dotted == p or dotted.startswith(p + ".") for p in packages)


def shared_root_prefixes(root: Path) -> list[set[str]]:
    """Groups of modules and packages at the root of ``root`` whose names share the part
    before their first underscore."""
    by_prefix: dict[str, set[str]] = {}
    for entry in root.iterdir():
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir() and (entry / "__init__.py").exists():
            stem = entry.name
        elif entry.suffix == ".py":
            stem = entry.stem
        else:
            continue
        by_prefix.setdefault(stem.split("_")[0], set()).add(stem)
    return [names for names in by_prefix.values() if len(names) > 1]


def missing_sandbox_platforms(root: Path) -> list[str]:
    return [p for p in ("x", "graph") if not (root / "sandbox" / p / "__init__.py").is_file()]


def conftest_imports(root: Path) -> set[tuple[str, str]]:
    """(importer, imported) for every import of a name from a ``conftest`` module."""
    found = set()
    for name, path, tree in _modules(root):
        for _, dotted in _imports(name, path, tree):
            if "conftest" in dotted.split(".")[:-1]:
                found.add((name, dotted))
    return found


# --- the rules, on bot/ --------------------------------------------------------------------


def test_no_module_imports_another_modules_private_name() -> None:
    offenders = private_imports(BOT)
    assert not offenders, "make these names public (and name them so): " + ", ".join(
        f"{importer} imports {name}" for importer, name in sorted(offenders)
    )


def test_no_test_imports_a_private_name_of_the_code_it_tests() -> None:
    tests = Path(__file__).resolve().parent
    offenders = private_imports(tests)
    assert not offenders, "test the public name instead (make it public if it must be): " + (
        ", ".join(f"{importer} imports {name}" for importer, name in sorted(offenders))
    )


def test_no_test_imports_from_a_conftest() -> None:
    offenders = conftest_imports(Path(__file__).resolve().parent)
    assert not offenders, "move what is shared to tests/support/: " + ", ".join(
        f"{importer} imports {name}" for importer, name in sorted(offenders)
    )


def test_the_domain_never_imports_the_web_layer_the_cli_or_the_console() -> None:
    offenders = upward_imports(BOT)
    assert not offenders, ", ".join(f"{a} imports {b}" for a, b in sorted(offenders))


def test_no_two_modules_at_the_root_of_bot_share_a_prefix() -> None:
    assert shared_root_prefixes(BOT) == []


def test_the_sandbox_has_a_folder_per_platform() -> None:
    assert missing_sandbox_platforms(BOT) == []


# --- each rule finds what it is for ----------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "bot"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return root


def test_a_private_name_taken_from_another_module_is_found_even_on_several_lines(
    tmp_path: Path,
) -> None:
    root = _tree(
        tmp_path,
        {
            "delivery/ledger.py": "def _helper(): ...\ndef own(): return _helper()\n",
            "delivery/sweeps.py": "from .ledger import (\n    own,\n    _helper,\n)\n",
            "delivery/daemon.py": "def run():\n    from bot.delivery import ledger\n",
        },
    )
    assert private_imports(root) == {("bot.delivery.sweeps", "bot.delivery.ledger._helper")}


def test_a_domain_module_importing_the_web_layer_is_found_but_the_composition_root_is_not(
    tmp_path: Path,
) -> None:
    root = _tree(
        tmp_path,
        {
            "pledges/jobs.py": "def tidy():\n    from bot.web import signins\n",
            "runtime/process.py": "from bot.web.server import serving_web\n",
            "runtime/wiring.py": "import bot.cli.context\n",
            "web/app.py": "from bot.cli import context\n",
        },
    )
    assert upward_imports(root) == {
        ("bot.pledges.jobs", "bot.web.signins"),
        ("bot.runtime.wiring", "bot.cli.context"),
    }


def test_root_modules_sharing_a_prefix_are_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {"ledger.py": "", "ledger_sql.py": "", "delivery/deliverer.py": "", "queue.py": ""},
    )
    assert shared_root_prefixes(root) == [{"ledger", "ledger_sql"}]


def test_an_import_from_a_conftest_is_found(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "web").mkdir(parents=True)
    (tests / "__init__.py").write_text("")
    (tests / "web" / "__init__.py").write_text("")
    (tests / "web" / "conftest.py").write_text("PASSWORD = 'x'\n")
    (tests / "web" / "test_a.py").write_text("from tests.web.conftest import PASSWORD\n")
    assert conftest_imports(tests) == {("tests.web.test_a", "tests.web.conftest.PASSWORD")}


def test_a_sandbox_without_its_platform_folders_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"sandbox/x/api.py": "", "sandbox/graph_api.py": ""})
    assert missing_sandbox_platforms(root) == ["graph"]
