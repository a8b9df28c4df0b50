"""The Khronos glTF-Validator (npm `gltf-validator`, pinned in tools/gltf-validator/,
installed by `make test` with npm ci) run on a file; tests assert 0 errors."""
import json
import shutil
import subprocess
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gltf-validator"


def validate(path) -> dict:
    """The validator's JSON report of a .glb/.gltf file."""
    node = shutil.which("node")
    assert node, "node is needed for the glTF validator (apt install nodejs)"
    assert (TOOL / "node_modules" / "gltf-validator").is_dir(), (
        f"the glTF validator is not installed: run `npm ci --prefix {TOOL}` (make test does)")
    out = subprocess.run([node, str(TOOL / "validate.js"), str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def assert_valid(path) -> dict:
    """Validate and assert no errors; returns the report (warnings/infos for the caller)."""
    report = validate(path)
    issues = report["issues"]
    errors = [m for m in issues.get("messages", []) if m.get("severity") == 0]
    assert issues["numErrors"] == 0, errors[:5]
    return report
