"""Dataset loaders: portrait folders (SynthHeads, EG3D-style FFHQ) and CelebAMask-HQ conversion.

A portrait folder holds

    images/<name>.png   RGB (any PIL-readable format; <root>/<name> also works, as in EG3D's FFHQ)
    masks/<name>.png    8-bit class ids 0..18 (semantics.py), same size as the image
    depths/<name>.png   optional 16-bit depth * depth_scale, 0 = background
    dataset.json        {"labels": [[name, [25 floats]], ...],
                         "camera_convention": "opengl" | "opencv" (missing = "opencv", EG3D's FFHQ),
                         "depth_scale": 1000, "groups": [[names of one head], ...]}

Names in `labels` may include the "images/" prefix or not. Labels are returned
in our OpenGL convention (camera.py). Semantic convention: l_* = the person's
left = world +x side (appears on the image RIGHT in a frontal view).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import camera, semantics

CAMERA_CONVENTIONS = ("opengl", "opencv")


def _strip(name: str) -> str:
    name = name.replace("\\", "/")
    return name[len("images/"):] if name.startswith("images/") else name


def _parse_label(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape[0] != 25:
        raise ValueError(
            f"dataset.json: the label of {name!r} has {arr.shape[0]} values; a camera label has 25 "
            "(16 cam2world + 9 normalised intrinsics). Fix or regenerate dataset.json")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"dataset.json: the label of {name!r} holds non-finite values")
    return arr.astype(np.float32)


def read_dataset_json(root) -> dict:
    """Parse and validate root/dataset.json; returns dict(names, labels (N,25) OpenGL, groups, ...)."""
    root = Path(root)
    path = root / "dataset.json"
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a portrait dataset needs a dataset.json with camera labels "
            "(write one with `ide3d data synth`, or use EG3D's dataset_tool for FFHQ)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    entries = meta.get("labels") if isinstance(meta, dict) else None
    if not entries:
        raise ValueError(f"{path} has no 'labels' list of [file name, 25 floats] entries")
    names, labels = [], []
    for entry in entries:
        if not isinstance(entry, (list, tuple)) or len(entry) < 2 or not isinstance(entry[0], str):
            raise ValueError(f"{path}: malformed label entry {str(entry)[:80]}; expected [file name, 25 floats]")
        value = entry[1] if len(entry) == 2 else entry[1:]
        names.append(_strip(entry[0]))
        labels.append(_parse_label(entry[0], value))
    labels = np.stack(labels)
    convention = str(meta.get("camera_convention", "opencv")).lower()
    if convention not in CAMERA_CONVENTIONS:
        raise ValueError(f"{path}: camera_convention must be one of {CAMERA_CONVENTIONS}, got {convention!r}")
    groups = meta.get("groups") or [[n] for n in names]
    return dict(names=names, labels=labels, camera_convention=convention,
                depth_scale=float(meta.get("depth_scale", 1000)),
                groups=[[_strip(n) for n in g] for g in groups], meta=meta)


def _find(folder: Path, name: str) -> Path | None:
    p = folder / name
    if p.is_file():
        return p
    for ext in (".png", ".jpg", ".jpeg", ".webp"):
        q = p.with_suffix(ext)
        if q.is_file():
            return q
    return None


class PortraitDataset(torch.utils.data.Dataset):
    """Images + id masks (+ depths) + camera labels of a portrait folder.

    Item: dict(image float32 (3, H, W) in [-1, 1], mask int64 (H, W), label float32 (25,)
    OpenGL, depth float32 (H, W) with inf for background (only if depths/ exists),
    index int, group int). With xflip=True the dataset doubles: index >= n is the
    mirror of index - n (image flipped, left/right classes swapped, camera mirrored).
    """

    def __init__(self, root, resolution: int | None = None, xflip: bool = False,
                 camera_convention: str | None = None, check_files: bool = True):
        self.root = Path(root)
        info = read_dataset_json(self.root)
        convention = (camera_convention or info["camera_convention"]).lower()
        if convention not in CAMERA_CONVENTIONS:
            raise ValueError(f"camera_convention must be one of {CAMERA_CONVENTIONS}, got {convention!r}")
        self.convention = convention
        labels = info["labels"]
        if convention == "opencv":
            labels = camera.opencv_to_opengl(labels)
        self.names = info["names"]
        self.labels = labels.astype(np.float32)
        self.depth_scale = info["depth_scale"]
        self.resolution = int(resolution) if resolution else None
        self.xflip = bool(xflip)
        group_of = {}
        for g, members in enumerate(info["groups"]):
            for n in members:
                group_of[n] = g
        self.groups = np.array([group_of.get(n, -1) for n in self.names], dtype=np.int64)
        if (self.groups < 0).any():  # names without a group get their own
            nxt = int(self.groups.max()) + 1
            for i in np.nonzero(self.groups < 0)[0]:
                self.groups[i], nxt = nxt, nxt + 1
        self.image_dir, self.mask_dir, self.depth_dir = (self.root / "images", self.root / "masks",
                                                         self.root / "depths")
        if not self.mask_dir.is_dir():
            raise FileNotFoundError(
                f"{self.mask_dir} not found: put 8-bit id masks in masks/ "
                "(convert CelebAMask-HQ annotations with data.convert_celebamask_hq)")
        self.has_depth = self.depth_dir.is_dir()
        self._image_paths, self._mask_paths = [], []
        for n in self.names:
            # images/<name>, or <root>/<name> as in EG3D's FFHQ layout (00000/img00000000.png)
            ip = _find(self.image_dir, n) or _find(self.root, n)
            mp = _find(self.mask_dir, n)
            if check_files and ip is None:
                raise FileNotFoundError(f"image {n!r} is listed in dataset.json but missing from {self.image_dir}")
            if check_files and mp is None:
                raise FileNotFoundError(f"mask for {n!r} missing from {self.mask_dir}; every image needs an id mask")
            self._image_paths.append(ip or self.image_dir / n)
            self._mask_paths.append(mp or self.mask_dir / n)

    def __len__(self) -> int:
        return len(self.names) * (2 if self.xflip else 1)

    @property
    def num_images(self) -> int:
        return len(self.names)

    def _load(self, i: int):
        name = self.names[i]
        path = self._image_paths[i]
        if not path.is_file():
            raise FileNotFoundError(f"image {name!r} is listed in dataset.json but missing from {self.image_dir}")
        img = np.asarray(Image.open(path).convert("RGB"))
        mpath = self._mask_paths[i]
        if not mpath.is_file():
            raise FileNotFoundError(f"mask for {name!r} missing from {self.mask_dir}; every image needs an id mask")
        m = Image.open(mpath)
        if m.mode in ("RGB", "RGBA", "P"):
            mask = semantics.color_to_mask(np.asarray(m.convert("RGB")))
        else:
            mask = np.asarray(m)
        if mask.shape[:2] != img.shape[:2]:
            raise ValueError(f"mask of {name!r} is {mask.shape[1]}x{mask.shape[0]} but the image is "
                             f"{img.shape[1]}x{img.shape[0]}; masks must match their images")
        try:
            mask = semantics.check_mask(mask)
        except ValueError as exc:
            raise ValueError(f"mask of {name!r}: {exc}") from exc
        depth = None
        if self.has_depth:
            dpath = _find(self.depth_dir, name)
            if dpath is not None:
                raw = np.asarray(Image.open(dpath)).astype(np.float32)
                if raw.shape[:2] != img.shape[:2]:
                    raise ValueError(f"depth of {name!r} has size {raw.shape[1]}x{raw.shape[0]}, "
                                     f"image is {img.shape[1]}x{img.shape[0]}")
                depth = np.where(raw > 0, raw / self.depth_scale, np.inf).astype(np.float32)
        return img, mask, depth

    def _resize(self, img, mask, depth):
        r = self.resolution
        if r is None or (img.shape[0] == r and img.shape[1] == r):
            return img, mask, depth
        img = np.asarray(Image.fromarray(img).resize((r, r), Image.BILINEAR))
        mask = np.asarray(Image.fromarray(mask).resize((r, r), Image.NEAREST))
        if depth is not None:
            d = np.where(np.isfinite(depth), depth, 0).astype(np.float32)
            d = np.asarray(Image.fromarray(d).resize((r, r), Image.NEAREST))
            depth = np.where(d > 0, d, np.inf).astype(np.float32)
        return img, mask, depth

    def __getitem__(self, index: int) -> dict:
        n = len(self.names)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        flip = index >= n
        i = index - n if flip else index
        img, mask, depth = self._resize(*self._load(i))
        label = self.labels[i]
        if flip:
            img = img[:, ::-1]
            mask = semantics.flip_mask(mask)
            depth = depth[:, ::-1] if depth is not None else None
            label = camera.flip_label(label)
        image = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True)).permute(2, 0, 1).float() / 127.5 - 1.0
        out = dict(image=image, mask=torch.from_numpy(np.array(mask, dtype=np.int64, copy=True)),
                   label=torch.from_numpy(np.asarray(label, dtype=np.float32).copy()),
                   index=index, group=int(self.groups[i]))
        if depth is not None:
            out["depth"] = torch.from_numpy(np.array(depth, dtype=np.float32, copy=True))
        return out


def convert_celebamask_hq(anno_dir, out_masks_dir, overwrite: bool = True) -> int:
    """Merge CelebAMask-HQ per-class annotation files into 8-bit id masks.

    Files are named like 00000_skin.png, 00000_l_eye.png (class names as in
    semantics.CLASS_NAMES), possibly spread over sub-folders. Classes are painted
    in CelebAMask-HQ order, so later classes overwrite earlier ones. Writes
    out_masks_dir/<id>.png (mode L); returns the number of masks written."""
    anno_dir, out = Path(anno_dir), Path(out_masks_dir)
    if not anno_dir.is_dir():
        raise FileNotFoundError(f"annotation folder {anno_dir} does not exist")
    names = sorted(semantics.CLASS_NAMES[1:], key=len, reverse=True)  # match 'l_lip' before 'lip'
    per_image: dict[str, dict[int, Path]] = {}
    for p in sorted(anno_dir.rglob("*.png")):
        stem = p.stem
        for cname in names:
            if stem.endswith("_" + cname):
                key = stem[: -len(cname) - 1]
                per_image.setdefault(key, {})[semantics.CLASS_NAMES.index(cname)] = p
                break
    if not per_image:
        raise FileNotFoundError(
            f"no CelebAMask-HQ annotations (files like 00000_skin.png) found under {anno_dir}")
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for key, files in sorted(per_image.items()):
        mask = None
        for cid in sorted(files):
            part = np.asarray(Image.open(files[cid]).convert("L")) > 127
            if mask is None:
                mask = np.zeros(part.shape, dtype=np.uint8)
            if part.shape != mask.shape:
                raise ValueError(f"{files[cid]} is {part.shape[1]}x{part.shape[0]}, other parts of "
                                 f"{key} are {mask.shape[1]}x{mask.shape[0]}")
            mask[part] = cid
        name = f"{int(key)}.png" if key.isdigit() else f"{key}.png"
        target = out / name
        if target.exists() and not overwrite:
            continue
        Image.fromarray(mask).save(target)
        count += 1
    return count


def merge_datasets(sources, out_dir) -> dict:
    """One portrait folder that lists several: out_dir/{images,masks,depths}/<tag> link to each
    source's folders (nothing is copied), dataset.json lists "<tag>/<name>" with the sources'
    cameras (in one convention: OpenGL) and heads. Tags are the source folders' names.
    Returns the dataset.json dict."""
    sources = [Path(s) for s in sources]
    out = Path(out_dir)
    if len(sources) < 2:
        raise ValueError("merging needs at least two dataset folders")
    tags = [s.resolve().name for s in sources]
    if len(set(tags)) != len(tags):
        raise ValueError(f"the dataset folders' names must differ (they tag the merged names): {tags}")
    infos = [read_dataset_json(s) for s in sources]  # validates every source before writing
    with_depth = all((s / "depths").is_dir() for s in sources)
    if (out / "dataset.json").exists():
        raise FileExistsError(f"{out / 'dataset.json'} exists; merge into a new folder")
    labels, groups = [], []
    for src, tag, info in zip(sources, tags, infos):
        cams = info["labels"]
        if info["camera_convention"] == "opencv":
            cams = camera.opencv_to_opengl(cams)
        labels += [[f"{tag}/{n}", [float(v) for v in lab]] for n, lab in zip(info["names"], cams)]
        groups += [[f"{tag}/{n}" for n in g] for g in info["groups"]]
        if info["depth_scale"] != infos[0]["depth_scale"]:
            raise ValueError(f"{src} stores depth with scale {info['depth_scale']}, "
                             f"{sources[0]} with {infos[0]['depth_scale']}: they cannot share depths/")
    for sub in ("images", "masks") + (("depths",) if with_depth else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for src, tag in zip(sources, tags):
            link = out / sub / tag
            if not link.exists():
                link.symlink_to((src / sub).resolve(), target_is_directory=True)
    meta = {"labels": labels, "camera_convention": "opengl", "depth_scale": infos[0]["depth_scale"],
            "groups": groups, "merged_from": [str(s.resolve()) for s in sources]}
    with open(out / "dataset.json", "w") as f:
        json.dump(meta, f)
    return meta
