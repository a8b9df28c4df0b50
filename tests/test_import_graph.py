"""The module graph of ide3d_backend has no cycle and no upward import (tools/import_graph.py)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "import_graph.py"


def _tool():
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_package_graph_is_layered_and_acyclic():
    r = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no cycle, no upward import" in r.stdout
    assert "[6] session" in r.stdout and "session.record ->" in r.stdout


def test_the_check_finds_cycles_upward_imports_and_unlayered_modules():
    tool = _tool()
    assert tool.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    problems = tool.check({"camera": {"session"}, "session": {"camera"}, "nowhere": set()})
    assert any(p.startswith("upward import: camera") for p in problems)
    assert any("cycle" in p for p in problems)
    assert any("nowhere belongs to no layer" in p for p in problems)


def test_relative_and_lazy_imports_are_followed(tmp_path):
    tool = _tool()
    pkg = tmp_path / "ide3d_backend"
    (pkg / "session").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "camera.py").write_text("def f():\n    from .session import head\n")
    (pkg / "session" / "__init__.py").write_text("from .head import X\n")
    (pkg / "session" / "head.py").write_text("from .. import camera\nimport ide3d_backend.camera\nX = 1\n")
    graph = tool.build_graph(pkg)
    assert graph["camera"] == {"session.head"} and graph["session.head"] == {"camera"}
    assert graph["session"] == {"session.head"}
    assert any("upward import: camera" in p for p in tool.check(graph))
