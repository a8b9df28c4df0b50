"""Fetch more real portraits for bench/real_photos.py into data/portraits/ (not in the repo).

Two real portraits (the astronaut, Grace Hopper) are too few to tell one model from
another: a face found or not on one side view flips a comparison. PyPI is reachable from
the development machines, and the source release of face_recognition 1.3.0 (MIT) carries
official White House photographs in its tests: Barack Obama (three photos) and Joe Biden.
Their embedded notes allow personal and news use and forbid manipulated copies being
published, so they are fetched at development time only, checked against fixed SHA-256
sums, never committed, and the benchmark keeps their renders out of its pictures: only
the numbers (identity distance, faces found, PSNR) are written.

This is a development step like `pip install`, never a run-time download.
Usage: python tools/fetch_portraits.py [--out data/portraits]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST = "face_recognition==1.3.0"
SDIST_FILE = "face_recognition-1.3.0.tar.gz"
SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
# member name in the sdist -> (portrait name, SHA-256 of the file)
PORTRAITS = {
    "face_recognition-1.3.0/tests/test_images/obama.jpg":
        ("obama_oval_office", "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    "face_recognition-1.3.0/tests/test_images/obama2.jpg":
        ("obama_congress", "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
    "face_recognition-1.3.0/tests/test_images/obama3.jpg":
        ("obama_blue_room", "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
    "face_recognition-1.3.0/tests/test_images/biden.jpg":
        ("biden_blue_room", "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "portraits"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_sdist(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST,
           "-d", str(folder), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    path = folder / SDIST_FILE
    if done.returncode != 0 or not path.exists():
        raise SystemExit(f"could not download {SDIST} from PyPI ({done.stderr.strip()[-300:]}); "
                         "check that pip reaches PyPI, or copy the sdist into the folder given by --sdist")
    return path


def extract(sdist: Path, out: Path) -> dict:
    if sha256(sdist.read_bytes()) != SDIST_SHA256:
        raise SystemExit(f"{sdist} is not the expected {SDIST_FILE} (SHA-256 differs): refusing to use it")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    with tarfile.open(sdist) as tar:
        for member, (name, digest) in PORTRAITS.items():
            data = tar.extractfile(member).read()
            if sha256(data) != digest:
                raise SystemExit(f"{member} in {sdist} has an unexpected SHA-256")
            (out / f"{name}.jpg").write_bytes(data)
            written[name] = {"from": f"{SDIST} sdist, {member}", "sha256": digest}
    (out / "SOURCES.json").write_text(json.dumps(
        {"note": "Official White House photographs (Pete Souza) shipped in face_recognition 1.3.0's "
                 "tests. Development-time benchmark data: do not commit, do not publish renders.",
         "portraits": written}, indent=2))
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--sdist", type=Path, default=None, help=f"an already downloaded {SDIST_FILE}")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or download_sdist(Path(tmp))
        written = extract(sdist, args.out)
    print(f"wrote {len(written)} portraits to {args.out}: {', '.join(written)}")


if __name__ == "__main__":
    main()
