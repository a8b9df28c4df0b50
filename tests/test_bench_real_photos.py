"""The real-photo benchmark's portrait list, its paired comparison, and the portrait fetcher's
integrity check (no network: the fetcher is given a local tarball)."""
import io
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tools"))

import compare_real_photos  # noqa: E402
import fetch_portraits  # noqa: E402
import real_photos  # noqa: E402


def test_extra_portraits_are_scored_but_kept_out_of_the_picture(tmp_path):
    (tmp_path / "someone.jpg").write_bytes(b"not read here")
    (tmp_path / "notes.txt").write_text("ignored")
    found = real_photos.real_portraits(tmp_path)
    assert found["astronaut"][1] is True
    assert found["someone"] == (str(tmp_path / "someone.jpg"), False)
    assert "notes" not in found
    assert set(real_photos.real_portraits(tmp_path / "missing")) <= {"astronaut", "grace_hopper"}


def _views(**by_yaw):
    return {"views": {y: {"face_found": d is not None, "identity_distance": d} for y, d in by_yaw.items()}}


def test_comparison_pairs_only_views_where_both_found_the_face():
    before = {"real": {"a": _views(**{"-0.26": 0.70, "+0.26": None}),
                       "b": _views(**{"-0.26": 0.60, "+0.26": 0.50}),
                       "only_before": _views(**{"-0.26": 0.1, "+0.26": 0.1})}}
    after = {"real": {"a": _views(**{"-0.26": 0.65, "+0.26": 0.40}),
                      "b": _views(**{"-0.26": None, "+0.26": 0.55})}}
    out = compare_real_photos.compare(before, after, ["-0.26", "+0.26"])
    assert out["views"] == 4  # "only_before" is not in both runs
    assert out["faces_lost"] == {"before": 1, "after": 1}
    # paired: a at -0.26 (0.70 vs 0.65) and b at +0.26 (0.50 vs 0.55)
    assert out["paired_views"] == 2
    assert out["paired_identity_before"] == pytest.approx(0.60)
    assert out["paired_identity_after"] == pytest.approx(0.60)
    assert out["after_closer"] == 1


def _tarball(path: Path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_fetcher_refuses_a_tarball_that_is_not_the_pinned_release(tmp_path):
    fake = tmp_path / fetch_portraits.SDIST_FILE
    _tarball(fake, {member: b"something else" for member in fetch_portraits.PORTRAITS})
    with pytest.raises(SystemExit, match="SHA-256"):
        fetch_portraits.extract(fake, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
