"""The photo front end: what a real portrait tells before any inversion.

    a = analyse_photo("portrait.jpg", size=128)
    a.image, a.mask                 # aligned crop (R, R, 3) and its semantic mask (R, R)
    a.yaw, a.pitch                  # camera from landmarks (PnP), project conventions
    a.landmarks, a.aligned_landmarks  # (478, 3) photo pixels / aligned pixels
    a.transform, a.roll, a.face_box, a.warnings, a.timings

Modules: landmarks (MediaPipe graphs), pose (PnP against the mean head), align (the
crop), mask (landmarks + selfie segmentation + parser). docs/inversion.md, "Photo front end".
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import preprocess
from .landmarks import detect_faces, detect_landmarks, segment_person  # noqa: F401
from .mask import compose_mask
from .pose import PnPCamera, solve_camera  # noqa: F401


@dataclass
class PhotoAnalysis:
    image: np.ndarray              # (R, R, 3) uint8 aligned crop
    mask: np.ndarray               # (R, R) uint8 class ids at the aligned crop
    landmarks: np.ndarray          # (478, 3) photo pixels (x, y continuous; z relative depth)
    aligned_landmarks: np.ndarray  # (478, 3) aligned-crop pixels (z scaled with the crop)
    transform: np.ndarray          # 2x3 affine photo pixel -> aligned pixel (cv2 index convention)
    face_box: tuple[int, int, int, int]  # x, y, w, h of the mesh in photo pixels
    roll: float                    # radians the photo's face was rolled (eye line, image y down)
    yaw: float                     # PnP camera, radians: > 0 camera on the person's left
    pitch: float                   # > 0 camera above the head
    camera: PnPCamera
    person: np.ndarray             # (R, R) float32 selfie-segmentation probability
    source_size: tuple[int, int]   # (width, height) of the loaded photo
    num_faces: int
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def parser_scores(image: np.ndarray, parser) -> np.ndarray:
    """(19, R, R) parser logits of an aligned (R, R, 3) uint8 crop."""
    import torch
    import torch.nn.functional as F

    from .. import encoding
    dev = next(parser.parameters()).device
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(dev)
    with torch.no_grad():
        logits = encoding.parser_logits(parser, x)
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return logits[0].float().cpu().numpy()


def analyse_photo(photo, size: int = 128, parser=None, background: str = "white") -> PhotoAnalysis:
    """Landmarks, aligned crop, camera and semantic mask of a portrait.

    photo: path, bytes, (H, W, 3) uint8 array or PIL image. parser: a FaceParser the
    caller resolved (sources.optional_parser), or None (hair, ears, neck and cloth guessed
    from the face position, with a warning). Raises preprocess.PreprocessError with what to do
    for unreadable files, no face, a face under 64 px or a face seen only in profile.
    """
    t0 = time.perf_counter()
    rgb = preprocess.load_image(photo, background)  # decoded once: segmentation reads it too
    aligned = preprocess.preprocess(rgb, size, background=background)
    t = time.perf_counter() - t0
    if aligned.detection.source != "landmarks":
        raise preprocess.NoFaceError("the face mesh found no face; ")
    a = analyse_aligned(rgb, aligned, parser)
    a.timings = {"detect_align_pnp": t, **a.timings}
    return a


def analyse_aligned(rgb: np.ndarray, aligned: "preprocess.AlignedPhoto", parser=None) -> PhotoAnalysis:
    """The rest of `analyse_photo` for a photo `preprocess.preprocess` has already aligned
    with the face mesh (`aligned.landmarks` set); `rgb` is the loaded photo."""
    t = {}
    det, size = aligned.detection, aligned.image.shape[0]
    t0 = time.perf_counter()
    person = preprocess.warp(segment_person(rgb), aligned.transform, size)
    t["segment"] = time.perf_counter() - t0
    warnings = list(aligned.warnings)
    t0 = time.perf_counter()
    if parser is None:
        warnings.append("no trained face parser given: hair, ears, neck and cloth are guessed "
                        "from the face position")
    scores = None if parser is None else parser_scores(aligned.image, parser)
    t["parse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mask = compose_mask(aligned.landmarks, person, scores, yaw=aligned.camera.yaw)
    t["compose_mask"] = time.perf_counter() - t0
    m = aligned.transform[:, :2]
    roll = -math.atan2(m[1, 0], m[0, 0])  # the crop rotates by -roll to level the eyes
    cam = aligned.camera
    return PhotoAnalysis(aligned.image, mask, det.landmarks, aligned.landmarks, aligned.transform, det.box,
                         roll, cam.yaw, cam.pitch, cam, person, aligned.source_size, det.num_faces,
                         warnings, t)
