"""Test hygiene: the suite never skips because one of the project's own modules is missing
(breakage must fail, not vanish), and the test client raises no deprecation warning."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
OWN = ("ide3d_backend", "training", "addon")


def _own(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in OWN)


def test_no_skip_guards_for_the_projects_own_modules():
    found = []
    for path in sorted(TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            # pytest.importorskip("ide3d_backend...")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "importorskip" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _own(arg.value):
                    found.append(f"{path.name}:{node.lineno} importorskip({arg.value!r})")
            # try: import <own> except ImportError: pytest.skip(...)
            if isinstance(node, ast.Try):
                imports = [n for n in ast.walk(ast.Module(body=node.body, type_ignores=[]))
                           if isinstance(n, (ast.Import, ast.ImportFrom))]
                names = [a.name for n in imports if isinstance(n, ast.Import) for a in n.names]
                names += [n.module or "" for n in imports if isinstance(n, ast.ImportFrom)]
                skips = any(isinstance(c, ast.Call) and getattr(c.func, "attr", "") == "skip"
                            for h in node.handlers for c in ast.walk(h))
                if skips and any(_own(n) for n in names):
                    found.append(f"{path.name}:{node.lineno} skips when {names} fail to import")
            # @pytest.mark.skipif(<anything about the project's own modules being importable>)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "skipif":
                text = ast.unparse(node)
                if "find_spec" in text or "_available" in text:
                    found.append(f"{path.name}:{node.lineno} {text[:80]}")
    assert not found, "skip guards hide breakage of the project's own modules:\n" + "\n".join(found)


def test_the_test_client_raises_no_deprecation_warning():
    code = "import warnings; warnings.simplefilter('error'); import fastapi.testclient"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
