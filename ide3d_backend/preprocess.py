"""Photo preprocessing: load any common image, find the face, crop and align it the
way the generator frames heads, and bring an optional user mask along.

Detector: MediaPipe's face mesh (photo/landmarks.py; 478 landmarks, models inside the
mediapipe wheel). The crop comes from its eyes and mouth, then from the mean head's
landmarks at the PnP camera (photo/align.py), so roll is removed and a turned face sits
where the model renders it. OpenCV's Haar cascades (`opencv-contrib-python` < 5 ships them
in `cv2.data`; OpenCV 5 dropped them) remain a fallback, with a warning, for photos where
the mesh finds nothing but a cascade does.

Framing (measured, docs/inversion.md): in the model's frontal view (camera.py,
fov 18.8 deg at radius 2.7) SynthHeads renders put the eye centres at
y = 0.45 of the image height and 0.173 of the width apart, the midpoint on the
vertical centre line. Alignment rotates the photo so the eye line is horizontal,
scales it so the eyes are EYE_DISTANCE apart and moves their midpoint to
(0.5, EYE_Y), then resamples to the model's output resolution.
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import semantics

# Framing of the generator's frontal view, in fractions of the output size.
EYE_Y = 0.45
EYE_DISTANCE = 0.173
# Without two eyes: eye midpoint and spacing from the Haar face box (measured on
# SynthHeads renders and photos; the box is 0.35-0.47 eye distances wide).
BOX_EYE_Y = 0.39
BOX_EYE_DISTANCE = 0.41
MIN_FACE_PX = 64
# The face mesh's box is tight around the face oval; a detector's box (Haar's, on which
# MIN_FACE_PX was set) is 1.05-1.3x larger, so the mesh's longer side must reach 3/4 of it.
MIN_MESH_FACE_PX = 0.75 * MIN_FACE_PX
# The landmark camera's yaw saturates on strong turns (SynthHeads: 0.74 rad measured at a
# true 0.9, 0.70 at 1.2), so a measured yaw past this may be a profile beyond the 60 degrees
# the model has views of.
PROFILE_YAW = 0.68

BACKGROUNDS = {"white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128)}

ImageSource = "str | os.PathLike | bytes | np.ndarray | Image.Image"


class PreprocessError(ValueError):
    """A photo or mask that cannot be used; the message says what to do."""


class NoFaceError(PreprocessError):
    """No face in the photo. str() names the CLI's way out (--no-align); `api_detail` the
    HTTP API's (the form field `align`)."""

    def __init__(self, prefix: str = ""):
        super().__init__(prefix + NO_FACE.format(skip="pass --no-align"))
        self.api_detail = prefix + NO_FACE.format(skip="send the form field align=false")


@dataclass
class FaceDetection:
    box: tuple[int, int, int, int]            # x, y, w, h in photo pixels
    eyes: tuple[tuple[float, float], tuple[float, float]] | None  # (image-left eye, image-right eye) centres
    num_faces: int
    landmarks: np.ndarray | None = None  # (478, 3) face-mesh points in photo pixels (None: Haar)
    source: str = "haar"                 # "landmarks" (face mesh) or "haar" (fallback)


@dataclass
class AlignedPhoto:
    image: np.ndarray                    # (R, R, 3) uint8, aligned
    mask: np.ndarray | None              # (R, R) uint8 class ids, aligned, or None
    transform: np.ndarray                # 2x3 affine: photo pixel -> aligned pixel
    detection: FaceDetection | None
    source_size: tuple[int, int]         # (width, height) of the loaded photo
    warnings: list[str] = field(default_factory=list)
    landmarks: np.ndarray | None = None  # (478, 3) face-mesh points in aligned pixels
    camera: object | None = None         # photo.pose.PnPCamera in the aligned crop (yaw, pitch, ...)

    @property
    def mask_source(self) -> str:
        return "none" if self.mask is None else "user"


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - a dependency
        raise PreprocessError("face detection needs OpenCV<5 (opencv-contrib-python, a mediapipe dependency); "
                              "run `pip install 'opencv-contrib-python<5'`") from None
    return cv2


# --- loading -----------------------------------------------------------------------
def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return Image.fromarray(source)
    try:
        if isinstance(source, (bytes, bytearray)):
            im = Image.open(io.BytesIO(source))
        else:
            path = Path(source)
            if not path.is_file():
                raise PreprocessError(f"{path} does not exist or is not a file")
            im = Image.open(path)
        im.load()
        return im
    except PreprocessError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        name = "the upload" if isinstance(source, (bytes, bytearray)) else str(source)
        raise PreprocessError(f"{name} is not a readable image ({exc}); give a JPEG, PNG or WebP photo") from None


def load_image(source, background: str = "white") -> np.ndarray:
    """Any common image -> (H, W, 3) uint8 RGB, upright (EXIF), alpha composited on
    `background` (white or grey), greyscale expanded to RGB."""
    im = _open(source)
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject the photo
        pass
    if background not in BACKGROUNDS:
        raise PreprocessError(f"unknown background {background!r}; use white or grey")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        canvas = Image.new("RGBA", im.size, BACKGROUNDS[background] + (255,))
        im = Image.alpha_composite(canvas, im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        im = Image.fromarray((255 * arr / max(arr.max(), 1)).astype(np.uint8))
    im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.uint8)
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise PreprocessError(f"the image is only {arr.shape[1]}x{arr.shape[0]} pixels; "
                              f"give a photo whose face is at least {MIN_FACE_PX} px wide")
    return np.ascontiguousarray(arr)


def load_mask(source) -> np.ndarray:
    """An 8-bit id PNG (values 0..18), a palette (mode P) PNG whose indices are ids,
    or a palette-colour RGB PNG -> (H, W) uint8 class ids."""
    im = _open(source)
    try:
        if im.mode in ("L", "P", "I", "I;16"):
            ids = np.asarray(im if im.mode != "P" else im, dtype=np.int64)
            if im.mode == "P" and ids.size and ids.max() >= semantics.NUM_CLASSES:
                ids = semantics.color_to_mask(np.asarray(im.convert("RGB")))
            return semantics.check_mask(ids)
        return semantics.color_to_mask(np.asarray(im.convert("RGB")))
    except ValueError as exc:
        raise PreprocessError(f"unusable mask: {exc}") from None


# --- detection ---------------------------------------------------------------------
_CASCADES: dict[str, object] = {}


def _cascade(name: str):
    cv2 = _cv2()
    if name not in _CASCADES:
        path = os.path.join(cv2.data.haarcascades, name)
        c = cv2.CascadeClassifier(path)
        if c.empty():
            raise PreprocessError(f"OpenCV has no Haar cascade {name}; install opencv-contrib-python<5 "
                                  "(OpenCV 5 no longer ships the cascades)")
        _CASCADES[name] = c
    return _CASCADES[name]


def _pick_eyes(eyes, box) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The most plausible (left-in-image, right-in-image) eye pair inside a face box."""
    x, y, w, h = box
    cands = [(ex + ew / 2 - x, ey + eh / 2 - y, ew) for ex, ey, ew, eh in eyes
             if ey + eh / 2 < y + 0.6 * h]  # eyes sit in the upper part of the box
    best, best_score = None, math.inf
    for i, a in enumerate(cands):
        for b in cands[i + 1:]:
            left, right = (a, b) if a[0] < b[0] else (b, a)
            dx, dy = right[0] - left[0], right[1] - left[1]
            dist = math.hypot(dx, dy)
            if not (0.2 * w < dist < 0.7 * w) or abs(dy) > 0.5 * dist:
                continue
            if left[0] > 0.6 * w or right[0] < 0.4 * w:
                continue
            mid = (left[0] + right[0]) / 2
            score = abs(mid - w / 2) / w + abs(dy) / dist + abs(dist / w - 0.4)
            if score < best_score:
                best_score, best = score, ((left[0] + x, left[1] + y), (right[0] + x, right[1] + y))
    return best


def detect_face_haar(rgb: np.ndarray) -> FaceDetection:
    """Haar fallback: the largest frontal face and, when found, its two eye centres."""
    cv2 = _cv2()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray = cv2.equalizeHist(gray)
    min_side = min(gray.shape)
    min_size = max(24, min_side // 12)
    faces = []
    for name in ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml"):
        faces = _cascade(name).detectMultiScale(gray, scaleFactor=1.08, minNeighbors=5,
                                                minSize=(min_size, min_size))
        if len(faces):
            break
    if not len(faces):
        raise NoFaceError()
    faces = sorted((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3], reverse=True)
    box = faces[0]
    x, y, w, h = box
    if w < MIN_FACE_PX:
        raise PreprocessError(f"the face is only {w} px wide; give a photo whose face is at least "
                              f"{MIN_FACE_PX} px wide")
    # Eyes: plain grey first, then equalised, then the face upsampled 2x; the first
    # pass giving a plausible pair wins (each pass alone misses eyes on some faces).
    raw = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[y:y + h, x:x + w]
    cascade = _cascade("haarcascade_eye.xml")
    for roi, f in ((raw, 1), (cv2.equalizeHist(raw), 1), (cv2.resize(raw, (2 * w, 2 * h)), 2)):
        found = cascade.detectMultiScale(roi, scaleFactor=1.05, minNeighbors=3,
                                         minSize=(max(6, f * w // 12),) * 2, maxSize=(f * w // 3,) * 2)
        pair = _pick_eyes([(ex / f + x, ey / f + y, ew / f, eh / f) for ex, ey, ew, eh in found], box)
        if pair is not None:
            return FaceDetection(box, pair, len(faces))
    return FaceDetection(box, None, len(faces))


NO_FACE = ("no face found in the photo; use a well-lit, roughly frontal portrait, "
           "or {skip} if the photo is already a centred head crop")


def _too_small(width: float) -> PreprocessError:
    return PreprocessError(f"the face is only {width:.0f} px wide; give a photo whose face is at least "
                           f"{MIN_FACE_PX} px wide")


def detect_face(rgb: np.ndarray) -> FaceDetection:
    """The largest face by its face-mesh landmarks; the Haar cascades when the mesh finds
    none (then `source` is "haar"). Raises PreprocessError for no face or a small one."""
    from .photo import landmarks as lm
    faces = lm.detect_landmarks(rgb)
    if not faces:
        boxes = lm.detect_faces(rgb)
        try:
            det = detect_face_haar(rgb)
        except PreprocessError:
            if boxes and boxes[0][2] < MIN_FACE_PX:
                raise _too_small(boxes[0][2]) from None
            if boxes:
                raise PreprocessError("a face was found but its landmarks were not (a profile, a face "
                                      "turned more than 60 degrees, or heavily covered); use a photo "
                                      "of the face from the front or up to 60 degrees to the side") from None
            raise
        return det
    face = faces[0]
    x, y, w, h = face.box
    if max(w, h) < MIN_MESH_FACE_PX:
        raise PreprocessError(f"the face is only {max(w, h):.0f} px from brow to chin; give a photo whose face "
                              f"is at least {MIN_FACE_PX} px wide")
    from .photo.align import eye_centres
    left, right = eye_centres(face.points)  # the person's left eye is on the image right
    # The detector also counts faces too small or too turned for the mesh.
    count = len(faces) if len(faces) > 1 else max(1, len(lm.detect_faces(rgb)))
    return FaceDetection((int(x), int(y), int(round(w)), int(round(h))),
                         (tuple(map(float, right)), tuple(map(float, left))), count,
                         landmarks=face.points, source="landmarks")


# --- alignment ---------------------------------------------------------------------
def _to_index_space(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Continuous-coordinate similarity (pixel i covers [i, i+1)) -> cv2 2x3 matrix on indices."""
    return np.concatenate([a, (a @ np.array([0.5, 0.5]) + t - 0.5)[:, None]], 1)


def alignment_transform(det: FaceDetection, size: int) -> np.ndarray:
    """2x3 affine photo pixel -> aligned pixel (similarity: rotation, scale, shift)."""
    if det.eyes is not None:
        (lx, ly), (rx, ry) = det.eyes
        angle = math.atan2(ry - ly, rx - lx)
        dist = math.hypot(rx - lx, ry - ly)
        mx, my = (lx + rx) / 2, (ly + ry) / 2
    else:
        x, y, w, h = det.box
        angle, dist = 0.0, BOX_EYE_DISTANCE * w
        mx, my = x + w / 2, y + BOX_EYE_Y * h
    s = EYE_DISTANCE * size / dist
    c, si = math.cos(angle) * s, math.sin(angle) * s
    a = np.array([[c, si], [-si, c]])  # rotate by -angle: the eye line becomes horizontal
    t = np.array([0.5 * size, EYE_Y * size]) - a @ np.array([mx, my])
    return _to_index_space(a, t)


def centre_crop_transform(width: int, height: int, size: int) -> np.ndarray:
    """2x3 affine of a centred square crop scaled to `size` (for --no-align)."""
    side = min(width, height)
    s = size / side
    a = np.eye(2) * s
    t = -s * np.array([(width - side) / 2, (height - side) / 2])
    return _to_index_space(a, t)


def warp(image: np.ndarray, transform: np.ndarray, size: int, nearest: bool = False,
         border_value=0) -> np.ndarray:
    """Resample `image` under a photo->aligned affine onto a size x size grid."""
    cv2 = _cv2()
    if nearest:
        return cv2.warpAffine(image, transform, (size, size), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    scale = math.sqrt(abs(np.linalg.det(transform[:, :2])))
    src = image
    m = transform.copy()
    if scale < 0.5:  # shrink with area averaging first so detail does not alias
        f = int(min(1 / scale, 8))
        if f > 1:
            h, w = image.shape[:2]
            src = cv2.resize(image, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
            sx, sy = w / src.shape[1], h / src.shape[0]
            # index in the small image -> index in the original (continuous centres line up)
            m = m @ np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def preprocess(photo, size: int, mask=None, align: bool = True, background: str = "white") -> AlignedPhoto:
    """Load, detect, align and resize a portrait (and warp its mask with the same crop).

    `mask` (path, bytes or id array) must be the photo's size or already `size` x `size`
    (then taken as aligned). Raises PreprocessError with what to do on bad input.
    """
    rgb = load_image(photo, background)
    h, w = rgb.shape[:2]
    warnings: list[str] = []
    det = cam = points = None
    if align:
        det = detect_face(rgb)
        if det.num_faces > 1:
            warnings.append(f"{det.num_faces} faces found; using the largest ({det.box[2]}x{det.box[3]} px)")
        if det.source == "haar":
            warnings.append("the face mesh found no face; aligned with the Haar cascade fallback "
                            "(no landmarks: camera and mask come from the encoders and the parser)")
            if det.eyes is None:
                warnings.append("eyes not found; aligned from the face box (roll not corrected)")
            m = alignment_transform(det, size)
        else:
            from .photo.align import align_to_model, in_crop
            m, cam = align_to_model(det.landmarks, size)
            points = in_crop(m, det.landmarks)
            if abs(cam.yaw) > PROFILE_YAW:
                warnings.append(f"the face is turned strongly (about {math.degrees(abs(cam.yaw)):.0f} degrees "
                                "or more, nearly a profile); past 60 degrees the model has seen no views, "
                                "expect a poor head: a photo closer to the front works better")
    else:
        if min(h, w) < MIN_FACE_PX:
            raise PreprocessError(f"the image is only {w}x{h} pixels; give at least {MIN_FACE_PX} px")
        m = centre_crop_transform(w, h, size)
    image = warp(rgb, m, size)
    ids = None
    if mask is not None:
        ids = load_mask(mask) if not isinstance(mask, np.ndarray) else semantics.check_mask(mask)
        if ids.shape == (h, w):
            ids = warp(ids, m, size, nearest=True, border_value=0)
        elif ids.shape == (size, size):
            pass
        else:
            raise PreprocessError(f"the mask is {ids.shape[1]}x{ids.shape[0]} but must match the photo "
                                  f"({w}x{h}) or the aligned size ({size}x{size})")
    return AlignedPhoto(image, ids, m, det, (w, h), warnings, landmarks=points, camera=cam)


def predict_mask(image: np.ndarray, parser=None, device=None) -> np.ndarray:
    """Class ids of an aligned photo from the face parser (the shipped one when None).

    Raises PreprocessError when no trained parser is installed, saying to pass a mask."""
    import torch
    try:
        from . import encoding
    except ImportError:
        raise PreprocessError("no face parser is available in this installation; pass a mask "
                              "(--mask, an id or palette PNG)") from None
    from .checkpoint import CheckpointError
    if parser is None:
        try:
            parser = encoding.load_parser(None, device=device) if _accepts_device(encoding.load_parser) \
                else encoding.load_parser(None)
        except (CheckpointError, FileNotFoundError) as exc:
            raise PreprocessError(f"no trained face parser is installed ({exc}); pass a mask "
                                  "(--mask, an id or palette PNG) or train one with `ide3d train parser`") from None
    dev = next(parser.parameters()).device
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(dev)
    with torch.no_grad():
        ids = encoding.parse(parser, x)
    return ids[0].to(torch.uint8).cpu().numpy()


def _accepts_device(fn) -> bool:
    import inspect
    try:
        return "device" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
