"""The `ide3d` command's registry: `train` joins through the `ide3d.commands` entry
point (the runtime package never imports training/), and a subcommand whose module
fails to import is listed as unavailable and says why instead of vanishing."""
import ast
from pathlib import Path

from ide3d_backend import cli

ROOT = Path(__file__).resolve().parents[1]


def test_train_is_an_installed_entry_point_and_listed_in_help():
    eps = {ep.name: ep.value for ep in cli.registrars()}
    assert eps["train"] == "training.cli:register" and "train" not in cli.COMMANDS
    help_text = cli.build_parser().format_help()
    for name in ("train", "invert", "serve", "data"):
        assert f"    {name} " in help_text, name
    assert "unavailable" not in help_text


def test_the_runtime_package_does_not_import_training():
    for path in (ROOT / "ide3d_backend").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "training" or n.startswith("training.") for n in names), path


def test_a_registrar_that_fails_to_import_is_reported_not_dropped(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "broken", "ide3d_backend.no_such_module:register")
    help_text = cli.build_parser().format_help()
    assert "broken" in help_text and "unavailable" in help_text and "no_such_module" in help_text
    assert cli.main(["broken", "--any", "args"]) == 1
    err = capsys.readouterr().err
    assert "ide3d broken: error" in err and "ide3d_backend.no_such_module" in err and "ModuleNotFoundError" in err
