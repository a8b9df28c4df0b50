"""Real portraits through the whole photo path (front end -> inversion -> session), scored
by what a user sees: is the head still the person from the side?

For each real portrait the project can get offline, and for held-out SynthHeads heads
(seed 10^6 + i, a random FFHQ-like camera; they have a known camera):
- time per stage (front end, encoders, latent optimisation, pivotal tuning);
- the camera (yaw, pitch): the landmarks', the encoders' and the final one;
- identity distance (dlib's 128-d descriptor, ide3d_backend.identity) between the aligned
  photo and renders at yaw 0, +-0.26, +-0.52 rad (session pitch); below 0.6 = same person;
- whether the face mesh still finds a face on each of those renders;
- landmark error at the input view: mean distance of the 468 face-mesh points of the
  render to the photo's, over the inter-ocular distance;
- PSNR inside the face (the face-mesh oval) at the input view;
- the skin tone at the input view: the CIELAB distance and lightness difference between
  the render's skin and the photo's (a dark-skinned person must not come out pale);
- for real photos, a hair restyle (`--region hair`, style seed 7): the share of the
  changed pixels inside the dilated hair mask (an edit that stays on the hair).
Real portraits: the astronaut (NASA, public domain; bundled as
ide3d_backend/assets/astronaut.png, from scikit-image's data), Grace Hopper (US Navy,
public domain; matplotlib/mpl-data/sample_data/grace_hopper.jpg, in matplotlib, which
MediaPipe installs), and every JPEG in --portraits (default data/portraits/, filled by
tools/fetch_portraits.py with four White House photographs: they are scored, but their
renders stay out of the picture). Writes bench/results/real_photos.json and a turntable picture.
Usage: python bench/real_photos.py [--heads 16] [--preset fast] [--picture PATH] [--portraits DIR]
       [--generator G --encoders E --parser P]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

import common  # bench/common.py: the script's own folder is on sys.path

from ide3d_backend import camera, identity, semantics
from ide3d_backend.assets import ASTRONAUT
from ide3d_backend.metrics import psnr, skin_tone_difference
from ide3d_backend.photo import landmarks as lm, mask as photo_mask
from ide3d_backend.photo.align import eye_centres

YAWS = (-0.52, -0.26, 0.0, 0.26, 0.52)
DETECT_SIZE = 256  # renders and crops are upscaled to this for the face mesh and dlib


DEFAULT_PORTRAITS = Path(__file__).resolve().parents[1] / "data" / "portraits"


def real_portraits(folder: Path | None = DEFAULT_PORTRAITS) -> dict[str, tuple[str, bool]]:
    """name -> (path, whether its renders may go into the published picture)."""
    found = {"astronaut": (str(ASTRONAUT), True)}
    try:
        import matplotlib
        hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        if hopper.exists():
            found["grace_hopper"] = (str(hopper), True)
    except ImportError:
        pass
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob("*.jpg")):
            found[path.stem] = (str(path), False)
    return found


def upscale(rgb: np.ndarray, size: int = DETECT_SIZE) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))


def face(rgb: np.ndarray):
    """(landmarks (478, 3) in rgb's pixels, descriptor) of the largest face, or None."""
    big = upscale(rgb)
    faces = lm.detect_landmarks(big)
    if not faces:
        return None
    f = faces[0]
    x, y, w, h = f.box
    scale = rgb.shape[0] / DETECT_SIZE
    return f.points * scale, identity.embedding(big, (x, y, x + w, y + h))


def face_oval_mask(points: np.ndarray, size: int) -> np.ndarray:
    """Pixels inside the face mesh's oval (the front end's own polygon and coverage)."""
    return photo_mask.polygon_coverage(photo_mask.part_polygons(points)["face_oval"], size) >= 0.5


def hair_edit_locality(session) -> dict:
    from ide3d_backend import editing
    before = session.render(kind="rgb").astype(np.int16)
    hair = session.render(kind="mask") == semantics.class_id("hair")
    editing.edit_region(session, "hair", seed=7)
    after = session.render(kind="rgb").astype(np.int16)
    session.undo()
    changed = np.abs(after - before).max(-1) > 8
    near_hair = ndimage.binary_dilation(hair, iterations=3)
    n = int(changed.sum())
    return {"changed_pixels": n, "inside_dilated_hair": float((changed & near_hair).sum() / max(n, 1)),
            "in_bottom_half": float(changed[changed.shape[0] // 2:].sum() / max(n, 1))}


def score(session, truth: tuple[float, float] | None, edit: bool) -> dict:
    photo = session.photo()
    res = photo.shape[0]
    ref = face(photo)
    out = {"camera": {"final": [session.yaw, session.pitch],
                      **session.meta.get("extra", {}).get("inversion", {}).get("cameras", {})}}
    inv = session.meta.get("extra", {}).get("inversion", {})
    out["timings"] = inv.get("timings", {})
    if truth is not None:
        out["camera_truth"] = list(truth)
        out["camera_error"] = [abs(session.yaw - truth[0]), abs(session.pitch - truth[1])]
    if ref is None:
        out["error"] = "the face mesh finds no face on the aligned photo"
        return out
    ref_points, ref_desc = ref
    views = {}
    for yaw in YAWS:
        rgb = session.render(yaw, session.pitch, kind="rgb")
        f = face(rgb)
        views[f"{yaw:+.2f}"] = {"face_found": f is not None,
                                "identity_distance": identity.distance(ref_desc, f[1]) if f else None}
    out["views"] = views
    rgb = session.render(kind="rgb")  # the input view
    f = face(rgb)
    inside = face_oval_mask(ref_points, res)
    out["psnr_face_input_view"] = psnr(rgb[inside], photo[inside])
    # the skin's colour, each image read by its own mask (the photo's: the front end's)
    out["skin_tone_input_view"] = skin_tone_difference(photo, session.mask(), rgb, session.render(kind="mask"))
    if f is not None:
        le, re = eye_centres(ref_points)
        err = np.linalg.norm(f[0][:468, :2] - ref_points[:468, :2], axis=1).mean()
        out["landmark_error_input_view"] = float(err / np.linalg.norm(le - re))
        out["identity_distance_input_view"] = identity.distance(ref_desc, f[1])
    out["face_found_all_views"] = all(v["face_found"] for v in views.values())
    if edit:
        out["hair_edit"] = hair_edit_locality(session)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--picture", default=None,
                    help="turntable PNG (default: docs/images/real_photos_turntable.png for the shipped "
                         "weights, bench/results/NAME.png for candidates, so they never replace the docs' picture)")
    ap.add_argument("--name", default="real_photos")
    ap.add_argument("--portraits", type=Path, default=DEFAULT_PORTRAITS,
                    help="a folder of extra portrait JPEGs, scored but left out of the picture "
                         "(default data/portraits/, see tools/fetch_portraits.py)")
    ap.add_argument("--generator", default=None, help="generator checkpoint (default: the shipped one)")
    ap.add_argument("--encoders", default=None, help="encoders checkpoint (default: the shipped ones)")
    ap.add_argument("--parser", default=None, help="face parser checkpoint (default: the shipped one)")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))
    from ide3d_backend import sources
    from ide3d_backend.session import invert_photo
    from ide3d_backend.synthheads import render_head, sample_head
    G, base = sources.resolve_generator(args.generator, "cpu")
    enc, parser = sources.optional_encoders(args.encoders, "cpu"), sources.optional_parser(args.parser, "cpu")
    res = G.cfg.superres.output_resolution
    rows, results = [], {"preset": args.preset, "yaws": list(YAWS), "real": {}, "synthheads": {},
                         "weights": {k: getattr(args, k) or "shipped default" for k in ("generator", "encoders", "parser")}}

    def run(photo, truth=None, edit=False):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = invert_photo(G, photo, Path(tmp) / "s", preset=args.preset, encoders=enc, parser=parser,
                             base_source=base)
            wall = time.perf_counter() - t0
            r = score(s, truth, edit)
            r["timings"]["wall_including_front_end"] = wall
            r["mask_source"] = s.meta.get("mask_source")
            strip = [s.photo()] + [s.render(y, s.pitch, kind="rgb") for y in YAWS]
            return r, np.concatenate(strip, 1)

    for name, (path, publish) in real_portraits(args.portraits).items():
        r, strip = run(path, edit=True)
        results["real"][name] = {"source": path, **r}
        if publish:
            rows.append(strip)
        print(name, {k: r.get(k) for k in ("camera", "identity_distance_input_view", "face_found_all_views",
                                          "psnr_face_input_view", "landmark_error_input_view", "hair_edit")})
    rng = np.random.default_rng(0)
    for i in range(args.heads):
        yaw, pitch = camera.sample_angles(1, rng)[0]
        gt = render_head(sample_head(common.HELDOUT_SEED_BASE + i), camera.label_from_angles(yaw, pitch), res)
        r, strip = run(gt["rgb"], truth=(float(yaw), float(pitch)))
        results["synthheads"][str(common.HELDOUT_SEED_BASE + i)] = r
        if i < 2:
            rows.append(strip)
    results["summary"] = summarise(results)
    print(results["summary"])
    if args.picture is None:
        candidate = args.generator or args.encoders or args.parser
        args.picture = f"bench/results/{args.name}.png" if candidate else "docs/images/real_photos_turntable.png"
    if args.picture:
        Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, 0)).save(args.picture)
    common.write(args.name, results)


def summarise(results: dict) -> dict:
    def mean(xs):
        xs = [x for x in xs if x is not None]
        return float(np.mean(xs)) if xs else None
    out = {}
    for group in ("real", "synthheads"):
        items = list(results[group].values())
        views = {y: {"face_found": mean([float(it["views"][y]["face_found"]) for it in items if "views" in it]),
                     "identity_distance": mean([it["views"][y]["identity_distance"] for it in items if "views" in it])}
                 for y in (f"{v:+.2f}" for v in YAWS)}
        out[group] = {"items": len(items), "views": views,
                      "psnr_face_input_view": mean([it.get("psnr_face_input_view") for it in items]),
                      "landmark_error_input_view": mean([it.get("landmark_error_input_view") for it in items]),
                      "seconds": mean([it["timings"].get("wall_including_front_end") for it in items])}
        tones = [it.get("skin_tone_input_view") for it in items]
        out[group]["skin_delta_e_input_view"] = mean([t["delta_e"] for t in tones if t])
        out[group]["skin_delta_lightness_input_view"] = mean([t["delta_lightness"] for t in tones if t])
        side = [it["views"][y]["face_found"] for it in items if "views" in it
                for y in (f"{v:+.2f}" for v in YAWS if v != 0.0)]
        out[group]["side_views_with_a_face"] = [int(sum(side)), len(side)]
        if group == "synthheads":
            out[group]["camera_error_yaw_pitch"] = [mean([it["camera_error"][0] for it in items]),
                                                    mean([it["camera_error"][1] for it in items])]
    return out


if __name__ == "__main__":
    main()
