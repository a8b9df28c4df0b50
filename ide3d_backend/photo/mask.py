"""Semantic mask of an aligned photo from three independent sources:

- the face mesh for the face parts (eyes, brows, upper/lower lip, inner mouth when the
  lips part, nose) and the skin oval: real-face landmarks, so the parts exist on any photo
  the mesh reads. The parts are read from the label atlas (photo/atlas.py: SynthHeads'
  part shapes in the mesh's surface frame, which the model was trained on); the nose
  takes the parser's own outline when it sees it near the atlas nose at about its size
  (part_region). Without the atlas asset the parts are the landmark polygons (real
  eyelids, brows and lips), with the parser's outline for nose, lips, mouth and brows;
- selfie segmentation for person vs background (plus parser neck/cloth below the chin,
  which the selfie model can miss on synthetic shoulders);
- the face parser (trained on SynthHeads only) for what the mesh does not cover: hair,
  hat, ears, neck, cloth, glasses, jewellery, restricted to the person and to where each
  can be relative to the face: no cloth above the mouth, no hat below the eyes, no hair
  below the chin unless it hangs there from beside the face (its part below the eye line
  reaches the eye line), glasses only round both eyes, specks dropped; ears (the parser
  rarely labels them) where the atlas' band round the face oval has them at this yaw
  (without the atlas: skin beside the oval between eye line and mouth).

Class ids follow semantics.py; l_* = the person's left = image right in a frontal view.
"""
from __future__ import annotations

import numpy as np

from .. import semantics
from . import atlas as label_atlas
from .pose import mean_head

C = {name: i for i, name in enumerate(semantics.CLASS_NAMES)}
# Parts the landmarks (or the atlas) draw, in drawing order (later ones on top).
LANDMARK_PARTS = ("nose", "l_brow", "r_brow", "l_eye", "r_eye", "u_lip", "l_lip", "mouth")
PARSER_ONLY = ("background", "skin", "eye_g", "l_ear", "r_ear", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
SUPERSAMPLE = 4
PERSON_THRESHOLD = 0.5
PARSER_OUTLINES = ("nose", "u_lip", "l_lip", "mouth", "l_brow", "r_brow")  # parts whose outline the parser may give
PART_SLACK = 0.02            # how far (fraction of the crop) a parser part may lie off its polygon
PARSER_AGREES = (0.5, 2.0)   # parser/polygon area ratios at which the parser's outline is used
SPECK_CLASSES = ("eye_g", "hat", "ear_r", "neck_l", "l_ear", "r_ear")
SPECK_FRACTION = 0.002       # of the crop: fewer pixels of one of these classes are noise
GLASSES_FRACTION = 0.006     # frames round both eyes cover more than this
PART_COVER = {"l_brow": 0.75, "r_brow": 0.75}  # pixel coverage that counts as inside the part
EAR_WIDTH = 0.16
EAR_HIDDEN_YAW = 0.25        # past this yaw the far ear is behind the head
ATLAS_PARSER_OUTLINES = ("nose",)  # atlas parts whose outline the parser may still give
HAT_OVER_HAIR = 1.0          # a hat with less area than the hair is taken for hair
EAR_ATLAS_MIN = 0.15         # atlas ear frequency that turns skin beside the face into ear
MOUTH_OPEN = 0.2             # inner-lip area / whole-lip area above which the mouth is open


def polygon_coverage(points: np.ndarray, size: int) -> np.ndarray:
    """Fraction of each pixel of a size x size grid inside the polygon (continuous coords)."""
    import cv2
    s = SUPERSAMPLE
    canvas = np.zeros((size * s, size * s), np.uint8)
    shift = 4
    pts = np.round((np.asarray(points, dtype=np.float64)[:, :2] * s - 0.5) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=shift)
    return canvas.reshape(size, s, size, s).mean(axis=(1, 3))


def part_polygons(points: np.ndarray) -> dict[str, np.ndarray]:
    """Polygon (K, 2) of every landmark part and of the face oval, in the points' frame."""
    import cv2
    regions = mean_head()["regions"]
    polys = {name: points[regions[name], :2] for name in LANDMARK_PARTS + ("face_oval",) if name != "nose"}
    nose = points[regions["nose"], :2].astype(np.float32)
    polys["nose"] = cv2.convexHull(nose).reshape(-1, 2).astype(np.float64)
    return polys


def face_lines(points: np.ndarray) -> dict[str, float]:
    """Rows of the eye line, the brow line and the chin (lowest face-oval point)."""
    regions = mean_head()["regions"]
    eyes = points[regions["l_eye"] + regions["r_eye"], 1]
    brows = points[regions["l_brow"] + regions["r_brow"], 1]
    return {"eyes": float(eyes.mean()), "brows": float(brows.min()),
            "mouth": float(points[regions["mouth"], 1].mean()),
            "chin": float(points[regions["face_oval"], 1].max()),
            "centre_x": float(points[regions["nose"], 0].mean())}


def _hanging_hair(hair: np.ndarray, eye_row: int) -> np.ndarray:
    """Hair pixels below the eye line whose connected piece (below the eye line) touches it."""
    import cv2
    below = hair.copy()
    below[:eye_row] = False
    n, comp = cv2.connectedComponents(below.astype(np.uint8), connectivity=8)
    touching = np.unique(comp[eye_row][below[eye_row]]) if 0 <= eye_row < hair.shape[0] else []
    return np.isin(comp, [c for c in touching if c > 0])


def compose_mask(points: np.ndarray, person: np.ndarray, parser_logits: np.ndarray | None,
                 yaw: float = 0.0, atlas="shipped") -> np.ndarray:
    """(R, R) uint8 class ids for an aligned photo.

    points: (478, 2+) landmarks in aligned pixels; person: (R, R) selfie probability;
    parser_logits: (19, R, R) float scores of the face parser at the same crop, or None
    (then the person outside the face is hair above the brows and neck/cloth below the chin);
    yaw: the camera's (pose.solve_camera): a turned face hides the ear on the far side;
    atlas: a photo.atlas.LabelAtlas, "shipped" (the installed one) or None (parts from
    the landmark polygons, ears from the zones beside the oval).
    """
    size = person.shape[0]
    if isinstance(atlas, str):
        atlas = label_atlas.load_atlas()
    probs = None
    if atlas is not None and np.asarray(points).shape[1] >= 3:  # the atlas needs MediaPipe's z
        probs = label_atlas.atlas_probs(points, size, atlas, yaw)
    polys = part_polygons(points)
    lines = face_lines(points)
    rows = np.arange(size)[:, None] + 0.5
    oval = polygon_coverage(polys["face_oval"], size) >= 0.5
    is_person = (person >= PERSON_THRESHOLD) | oval
    if parser_logits is not None:  # selfie models trained on real shoulders can miss synthetic ones
        raw = np.asarray(parser_logits).argmax(0)
        is_person |= np.isin(raw, [C["neck"], C["cloth"]]) & (rows >= lines["chin"])
    mouth_row = int(np.clip(np.ceil(lines["mouth"]), 0, size))

    if parser_logits is None:
        scores = np.full((semantics.NUM_CLASSES, size, size), -np.inf)
        scores[C["hair"]] = np.where(rows < lines["brows"], 1.0, -np.inf)
        scores[C["neck"]] = np.where(rows >= lines["chin"], 1.0, -np.inf)
        scores[C["skin"]] = 0.0
    else:
        scores = np.array(parser_logits, dtype=np.float64, copy=True)
        for name in semantics.CLASS_NAMES:
            if name not in PARSER_ONLY:  # the landmarks own these
                scores[C[name]] = -np.inf
        scores[C["background"]] = -np.inf  # inside the person (outside is set below)
        scores[C["cloth"], :mouth_row] = -np.inf
        scores[C["hat"], int(np.clip(lines["eyes"], 0, size)):] = -np.inf  # a hat sits on the head
    ids = scores.argmax(0)
    # Specks of a class are parser noise (a few "glasses" pixels on a bare face): next best.
    specks = np.isin(ids, [C[n] for n in SPECK_CLASSES])
    for c in np.unique(ids[specks]):
        where = ids == c
        if where.sum() < (GLASSES_FRACTION if c == C["eye_g"] else SPECK_FRACTION) * size * size:
            scores[c][where] = -np.inf
            ids[where] = scores[:, where].argmax(0)
    if (ids == C["eye_g"]).any() and not glasses_round_eyes(ids == C["eye_g"], polys, size):
        where = ids == C["eye_g"]
        scores[C["eye_g"]][where] = -np.inf
        ids[where] = scores[:, where].argmax(0)
    # A "hat" smaller than the hair beside it is the SynthHeads parser's habit on real hair
    # (the astronaut got a hat on top of her hair): it is hair. A real hat covers the head.
    hat = ids == C["hat"]
    if hat.any() and hat.sum() < HAT_OVER_HAIR * (ids == C["hair"]).sum():
        ids[hat] = C["hair"]
    # Hair below the chin only where it hangs from beside the face.
    hair = ids == C["hair"]
    stray = hair & ~_hanging_hair(hair, int(lines["eyes"])) & (rows >= lines["chin"])
    if stray.any():
        scores[C["hair"]][stray] = -np.inf
        ids[stray] = scores[:, stray].argmax(0)
    # The face oval is skin, except hair or a hat over the forehead and glasses.
    keep = np.isin(ids, [C["eye_g"]]) | (np.isin(ids, [C["hair"], C["hat"]]) & (rows < lines["brows"]))
    ids[oval & ~keep] = C["skin"]
    # Ears on the side they are on (parsers mix left and right up).
    ears = np.isin(ids, [C["l_ear"], C["r_ear"]])
    image_right = np.broadcast_to(np.arange(size)[None, :] + 0.5 >= lines["centre_x"], ids.shape)
    ids[ears & image_right] = C["l_ear"]
    ids[ears & ~image_right] = C["r_ear"]
    ids[~is_person] = C["background"]
    if probs is None:
        ids[ear_zones(points, size, oval, yaw) & np.isin(ids, [C["skin"], C["l_ear"], C["r_ear"]])
            & is_person] = C["l_ear"]
    else:  # the atlas' band round the face knows where SynthHeads' ears are at this yaw
        ear = np.nan_to_num(probs[C["l_ear"]] + probs[C["r_ear"]], nan=0.0)
        ids[(ear >= EAR_ATLAS_MIN) & ~oval & is_person & np.isin(ids, [C["skin"], C["l_ear"], C["r_ear"]])] = C["l_ear"]
    ids[(ids == C["l_ear"]) & ~image_right] = C["r_ear"]
    parser_ids = None if parser_logits is None else np.asarray(parser_logits).argmax(0)
    for name, region in face_parts(polys, parser_ids, size, probs).items():
        ids[region] = C[name]
    return ids.astype(np.uint8)


def face_parts(polys: dict[str, np.ndarray], parser_ids: np.ndarray | None, size: int,
               probs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{part: (R, R) bool} in drawing order: from the label atlas' frequencies `probs`
    (SynthHeads' part shapes in the mesh's surface frame) when given, else the landmark
    polygons."""
    if probs is not None:
        parts = atlas_parts(probs, mouth_open(polys))
        return {n: part_region(n, r, parser_ids) if n in ATLAS_PARSER_OUTLINES else r for n, r in parts.items()}
    out = {}
    for name in LANDMARK_PARTS:
        if name == "mouth" and not mouth_open(polys):
            continue
        cover = polygon_coverage(polys[name], size)
        out[name] = part_region(name, cover >= PART_COVER.get(name, 0.5), parser_ids)
    return out


def atlas_parts(probs: np.ndarray, open_mouth: bool = True) -> dict[str, np.ndarray]:
    """The parts where the atlas' most frequent class among skin and the parts is a part
    (hair, glasses and the like vary from head to head: the parser says where they are;
    mixing the parser's part scores in was measured to lose). Closed lips (by the
    landmarks) have no mouth between them."""
    names = ("skin",) + LANDMARK_PARTS[:-1] + (("mouth",) if open_mouth else ())
    scores = np.stack([probs[C[n]] for n in names])
    inside = np.isfinite(scores[0])
    best = np.where(inside, np.nan_to_num(scores, nan=-1.0).argmax(0), 0)
    return {n: best == k for k, n in enumerate(names) if k > 0}


def glasses_round_eyes(glasses: np.ndarray, polys: dict[str, np.ndarray], size: int) -> bool:
    """Glasses frame both eyes: each eye's surroundings hold some of the glasses' pixels."""
    import cv2
    r = max(2, round(0.04 * size))
    for eye in ("l_eye", "r_eye"):
        near = cv2.dilate((polygon_coverage(polys[eye], size) > 0).astype(np.uint8),
                          np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)
        if (glasses & near).sum() < 0.1 * near.sum():
            return False
    return True


def mouth_open(polys: dict[str, np.ndarray]) -> bool:
    """Whether the inner lip contour encloses an opening (closed lips still leave a sliver)."""
    def area(p):
        return 0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], 1)) - np.dot(p[:, 1], np.roll(p[:, 0], 1)))
    inner = area(polys["mouth"])
    return inner > MOUTH_OPEN * (inner + area(polys["u_lip"]) + area(polys["l_lip"]))


def ear_zones(points: np.ndarray, size: int, oval: np.ndarray, yaw: float = 0.0) -> np.ndarray:
    """Where ears can be: beside the face oval between the eye line and the mouth, a
    band about a sixth of the face wide on each side (the parser, trained without many
    visible ears, rarely labels them; skin there is ear)."""
    regions = mean_head()["regions"]
    o = points[regions["face_oval"], :2]
    lines = face_lines(points)
    top = lines["eyes"] - 0.15 * (lines["mouth"] - lines["eyes"])
    bottom = lines["mouth"] - 0.2 * (lines["mouth"] - lines["eyes"])
    rows = np.arange(size)[:, None] + 0.5
    cols = np.arange(size)[None, :] + 0.5
    band = (o[:, 1] >= top) & (o[:, 1] <= bottom)
    if not band.any():
        return np.zeros((size, size), bool)
    width = o[:, 0].max() - o[:, 0].min()
    left, right = o[band, 0].min(), o[band, 0].max()
    image_left = (cols > left - EAR_WIDTH * width) & (cols < left)     # the person's right ear
    image_right = (cols < right + EAR_WIDTH * width) & (cols > right)  # the person's left ear
    # yaw > 0: the camera is on the person's left, so the right ear turns away
    side = (image_left & (yaw < EAR_HIDDEN_YAW)) | (image_right & (yaw > -EAR_HIDDEN_YAW))
    return side & (rows >= top) & (rows <= bottom) & ~oval


def part_region(name: str, drawn: np.ndarray, parser_ids: np.ndarray | None) -> np.ndarray:
    """The pixels of a face part: the parser's own pixels of that part near the landmark
    polygon when the parser sees it at about the polygon's size (its outline follows the
    image), else the landmark polygon (the parser misses or misplaces parts on real faces).
    Left/right parts take the parser's pixels of either side: parsers mix them up."""
    if parser_ids is None or not drawn.any() or name not in PARSER_OUTLINES:
        return drawn
    import cv2
    size = drawn.shape[0]
    r = max(1, round(PART_SLACK * size))
    zone = cv2.dilate(drawn.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)
    classes = [C[name]]
    if name in ("l_eye", "r_eye", "l_brow", "r_brow"):  # (l_lip is the lower lip)
        classes.append(C[("r_" if name[0] == "l" else "l_") + name[2:]])
    seen = np.isin(parser_ids, classes) & zone
    ratio = seen.sum() / drawn.sum()
    return seen if PARSER_AGREES[0] <= ratio <= PARSER_AGREES[1] and seen.sum() >= 3 else drawn
