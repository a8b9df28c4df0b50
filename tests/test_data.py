"""PortraitDataset over SynthHeads folders, conventions, x-flip, resizing, errors; CelebAMask-HQ merge."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ide3d_backend import camera, semantics
from ide3d_backend.data import PortraitDataset, convert_celebamask_hq, read_dataset_json
from ide3d_backend.synthheads import write_dataset


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    meta = write_dataset(root, count=2, resolution=32, views=2, seed=3, progress=False,
                         canonical_first=True, workers=1)
    return root, meta


def _copy(synth_dir, tmp_path):
    root, _ = synth_dir
    dst = tmp_path / "ds"
    shutil.copytree(root, dst)
    return dst


def test_round_trip(synth_dir):
    root, meta = synth_dir
    assert meta["camera_convention"] == "opengl" and meta["depth_scale"] == 1000
    assert len(meta["labels"]) == 4 and len(meta["groups"]) == 2 and len(meta["seeds"]) == 2
    ds = PortraitDataset(root)
    assert len(ds) == 4
    for i in range(4):
        item = ds[i]
        name, lab = meta["labels"][i]
        assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
        assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
        assert item["mask"].shape == (32, 32) and item["mask"].dtype == torch.int64
        assert item["label"].shape == (25,)
        np.testing.assert_allclose(item["label"].numpy(), np.asarray(lab, np.float32), atol=1e-6)
        assert item["group"] == i // 2 and item["index"] == i
        m = item["mask"].numpy()
        d = item["depth"].numpy()
        assert np.isinf(d[m == 0]).all() and np.isfinite(d[m > 0]).all()
        assert 2.2 < d[m > 0].min() and d[m > 0].max() < 3.3
        assert {1, 13}.issubset(set(np.unique(m).tolist())) or 1 in m
        # mask file matches
        mf = np.asarray(Image.open(root / "masks" / name))
        np.testing.assert_array_equal(mf, m)
    # canonical first view
    np.testing.assert_allclose(ds[0]["label"].numpy(), camera.frontal_label(), atol=1e-6)


def test_xflip(synth_dir):
    root, _ = synth_dir
    ds = PortraitDataset(root, xflip=True)
    assert len(ds) == 8
    a, b = ds[1], ds[5]
    torch.testing.assert_close(b["image"], a["image"].flip(-1))
    np.testing.assert_array_equal(b["mask"].numpy(), semantics.flip_mask(a["mask"].numpy()))
    np.testing.assert_allclose(b["label"].numpy(), camera.flip_label(a["label"].numpy()))
    torch.testing.assert_close(b["depth"], a["depth"].flip(-1))
    assert b["group"] == a["group"] and b["index"] == 5


def test_resize(synth_dir):
    root, _ = synth_dir
    ds = PortraitDataset(root, resolution=16)
    item = ds[0]
    assert item["image"].shape == (3, 16, 16) and item["mask"].shape == (16, 16)
    assert item["depth"].shape == (16, 16)
    assert set(np.unique(item["mask"].numpy())) <= set(np.unique(PortraitDataset(root)[0]["mask"].numpy()))


def test_opencv_convention(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    meta = json.loads((root / "dataset.json").read_text())
    ours = np.array(meta["labels"][1][1], np.float32)
    meta["labels"] = [[n, camera.opengl_to_opencv(np.array(l, np.float32)).tolist()] for n, l in meta["labels"]]
    del meta["camera_convention"]  # missing => opencv (EG3D's FFHQ)
    (root / "dataset.json").write_text(json.dumps(meta))
    ds = PortraitDataset(root)
    np.testing.assert_allclose(ds[1]["label"].numpy(), ours, atol=1e-6)
    ds2 = PortraitDataset(root, camera_convention="opengl")
    assert not np.allclose(ds2[1]["label"].numpy(), ours)
    # image names may carry the images/ prefix
    meta["labels"] = [["images/" + n, l] for n, l in meta["labels"]]
    (root / "dataset.json").write_text(json.dumps(meta))
    assert len(PortraitDataset(root)) == 4


def test_error_missing_json(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(FileNotFoundError, match="dataset.json"):
        PortraitDataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PortraitDataset(tmp_path / "nope")


def test_error_missing_image(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    (root / "images" / "h000001_v00.png").unlink()
    with pytest.raises(FileNotFoundError, match="h000001_v00.png.*listed in dataset.json but missing"):
        PortraitDataset(root)


def test_error_missing_mask(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    (root / "masks" / "h000000_v01.png").unlink()
    with pytest.raises(FileNotFoundError, match="mask for 'h000000_v01.png'"):
        PortraitDataset(root)


def test_error_mask_size(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "masks" / "h000000_v00.png")
    ds = PortraitDataset(root)
    with pytest.raises(ValueError, match="20x20 but the image is 32x32"):
        ds[0]


def test_error_unknown_class(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    m = np.asarray(Image.open(root / "masks" / "h000000_v00.png")).copy()
    m[0, 0] = 25
    Image.fromarray(m).save(root / "masks" / "h000000_v00.png")
    ds = PortraitDataset(root)
    with pytest.raises(ValueError, match="unknown class ids \\[25\\]"):
        ds[0]


def test_error_label_length(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    meta = json.loads((root / "dataset.json").read_text())
    meta["labels"][2][1] = meta["labels"][2][1][:16]
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="has 16 values; a camera label has 25"):
        PortraitDataset(root)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_dataset_json(root)
    (root / "dataset.json").write_text(json.dumps({"labels": []}))
    with pytest.raises(ValueError, match="no 'labels'"):
        read_dataset_json(root)


def test_convert_celebamask_hq(tmp_path):
    anno = tmp_path / "anno" / "0"
    anno.mkdir(parents=True)
    skin = np.zeros((8, 8), np.uint8)
    skin[2:6, 2:6] = 255
    leye = np.zeros((8, 8), np.uint8)
    leye[3, 3] = 255
    hair = np.zeros((8, 8), np.uint8)
    hair[0:3, :] = 255  # overlaps skin: hair (13) comes later and wins
    neckl = np.zeros((8, 8), np.uint8)
    neckl[7, 0] = 255
    for name, arr in (("skin", skin), ("l_eye", leye), ("hair", hair), ("neck_l", neckl)):
        Image.fromarray(arr).save(anno / f"00000_{name}.png")
    Image.fromarray(skin).save(anno / "00001_skin.png")
    out = tmp_path / "masks"
    assert convert_celebamask_hq(tmp_path / "anno", out) == 2
    m = np.asarray(Image.open(out / "0.png"))
    assert m[3, 3] == 4 and m[4, 4] == 1 and m[2, 2] == 13 and m[0, 7] == 13
    assert m[7, 0] == 16 and m[7, 7] == 0
    assert (np.asarray(Image.open(out / "1.png")) == skin // 255).all()
    with pytest.raises(FileNotFoundError, match="no CelebAMask-HQ annotations"):
        convert_celebamask_hq(tmp_path / "masks", tmp_path / "x")


def test_merge_datasets(synth_dir, tmp_path):
    """Two folders (one in OpenCV convention) read as one: every item equals its source's item,
    heads stay heads, and training's frontal-view index sees both sources' frontal views."""
    from ide3d_backend.data import merge_datasets
    from training.dataset import InMemoryDataset

    a = _copy(synth_dir, tmp_path)
    b = tmp_path / "second"
    shutil.copytree(a, b)
    meta_b = json.loads((b / "dataset.json").read_text())
    meta_b["labels"] = [[n, camera.opengl_to_opencv(np.array(lab, np.float32)).tolist()]
                        for n, lab in meta_b["labels"]]
    meta_b["camera_convention"] = "opencv"
    (b / "dataset.json").write_text(json.dumps(meta_b))
    merged = tmp_path / "merged"
    meta = merge_datasets([a, b], merged)
    assert len(meta["labels"]) == 8 and len(meta["groups"]) == 4
    ds, da, db = PortraitDataset(merged), PortraitDataset(a), PortraitDataset(b)
    assert len(ds) == 8
    for i in range(8):
        src = da if i < 4 else db
        item, ref = ds[i], src[i % 4]
        assert torch.equal(item["image"], ref["image"]) and torch.equal(item["mask"], ref["mask"])
        np.testing.assert_allclose(item["label"], ref["label"], atol=1e-5)
        assert torch.equal(item["depth"], ref["depth"])
    assert sorted(set(ds[i]["group"] for i in range(8))) == [0, 1, 2, 3]
    assert InMemoryDataset(merged, 32).frontal_heads == [0, 1, 2, 3]
    with pytest.raises(FileExistsError, match="new folder"):
        merge_datasets([a, b], merged)
    with pytest.raises(ValueError, match="must differ"):
        merge_datasets([a, a], tmp_path / "again")
