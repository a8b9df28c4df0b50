"""Preprocessing against independent answers: a SynthHeads render pasted into a larger
canvas at a known scale/rotation/offset must come back as the original framing."""
import io
import math

import numpy as np
import pytest
from PIL import Image

cv2 = pytest.importorskip("cv2")

from ide3d_backend import camera, preprocess as pp  # noqa: E402
from ide3d_backend.synthheads import render_head, sample_head  # noqa: E402

R = 128


@pytest.fixture(scope="module")
def head_render():
    return render_head(sample_head(1), camera.frontal_label(), R)


def _paste(img, angle_deg, scale, offset, canvas=(420, 400), nearest=False, fill=(90, 120, 90)):
    a = math.radians(angle_deg)
    A = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    M = pp._to_index_space(A, np.asarray(offset, float))
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpAffine(img, M, canvas, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0 if nearest else fill)


def test_framing_constants_match_synthheads(head_render):
    """The target eye line (EYE_Y, EYE_DISTANCE) is where the frontal view puts the eyes."""
    m = head_render["mask"]
    cents = []
    for c in (4, 5):
        yy, xx = np.nonzero(m == c)
        cents.append(((xx.mean() + 0.5) / R, (yy.mean() + 0.5) / R))
    (x1, y1), (x2, y2) = cents
    assert abs((y1 + y2) / 2 - pp.EYE_Y) < 0.015
    assert abs((x1 + x2) / 2 - 0.5) < 0.01
    assert abs(abs(x1 - x2) - pp.EYE_DISTANCE) < 0.015


@pytest.mark.parametrize("angle,scale,offset", [(12, 1.7, (150, 90)), (-8, 2.4, (60, 40))])
def test_aligned_crop_recovers_original(head_render, angle, scale, offset):
    rgb, mask = head_render["rgb"], head_render["mask"]
    big = _paste(rgb, angle, scale, offset)
    big_mask = _paste(mask, angle, scale, offset, nearest=True)
    out = pp.preprocess(big, R, mask=big_mask)
    assert out.detection is not None and out.detection.eyes is not None
    assert out.image.shape == (R, R, 3) and out.mask.shape == (R, R)
    mad = np.abs(out.image.astype(float) - rgb).mean() / 255
    assert mad < 0.05, mad
    assert (out.mask == mask).mean() > 0.9
    # The recovered transform is the inverse of the paste: photo->aligned scale ~ 1/scale.
    s = math.sqrt(abs(np.linalg.det(out.transform[:, :2])))
    assert abs(s * scale - 1) < 0.08


def test_mask_at_aligned_size_is_kept(head_render):
    big = _paste(head_render["rgb"], 0, 2.0, (100, 60))
    out = pp.preprocess(big, R, mask=head_render["mask"])
    assert np.array_equal(out.mask, head_render["mask"])
    with pytest.raises(pp.PreprocessError, match="must match the photo"):
        pp.preprocess(big, R, mask=np.zeros((50, 60), np.uint8))


def test_loading_formats(head_render, tmp_path):
    rgb = head_render["rgb"]
    # RGBA composited on white, greyscale -> RGB, WebP and JPEG read, EXIF orientation applied
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    out = pp.load_image(Image.fromarray(rgba, "RGBA"))
    assert out.shape == rgb.shape and (out[:10, :10] == 255).all()
    assert (pp.load_image(Image.fromarray(rgba, "RGBA"), background="grey")[:10, :10] == 128).all()
    assert pp.load_image(Image.fromarray(rgb[..., 0], "L")).shape == rgb.shape
    for fmt in ("WEBP", "JPEG", "PNG"):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt)
        assert pp.load_image(buf.getvalue()).shape == rgb.shape
    # EXIF orientation 6 = rotate 90 deg clockwise on display
    wide = np.zeros((40, 80, 3), np.uint8)
    im = Image.fromarray(wide)
    exif = im.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert pp.load_image(buf.getvalue()).shape == (80, 40, 3)


def test_masks_id_and_palette(head_render):
    from ide3d_backend import semantics
    m = head_render["mask"]
    for im in (Image.fromarray(m, "L"), Image.fromarray(semantics.mask_to_color(m))):
        buf = io.BytesIO()
        im.save(buf, "PNG")
        assert np.array_equal(pp.load_mask(buf.getvalue()), m)
    with pytest.raises(pp.PreprocessError, match="unusable mask"):
        pp.load_mask(Image.fromarray(np.full((20, 20), 200, np.uint8), "L"))


def test_errors(tmp_path):
    with pytest.raises(pp.PreprocessError, match="not a readable image"):
        pp.preprocess(b"\x89PNG\r\n\x1a\n garbage bytes", R)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(pp.PreprocessError, match="not a readable image"):
        pp.preprocess(bad, R)
    with pytest.raises(pp.PreprocessError, match="does not exist"):
        pp.preprocess(tmp_path / "missing.png", R)
    with pytest.raises(pp.PreprocessError, match="no face found"):
        pp.preprocess(np.full((300, 300, 3), 200, np.uint8), R)
    with pytest.raises(pp.PreprocessError, match="pixels"):
        pp.preprocess(np.zeros((5, 5, 3), np.uint8), R)


def test_small_face_rejected(head_render):
    small = cv2.resize(head_render["rgb"], (96, 96), interpolation=cv2.INTER_AREA)  # face ~45 px
    with pytest.raises(pp.PreprocessError, match="px"):
        pp.preprocess(small, R)


def test_several_faces_take_largest(head_render):
    rgb = head_render["rgb"]
    canvas = np.full((300, 560, 3), 90, np.uint8)
    canvas[20:20 + R, 10:10 + R] = rgb
    big = cv2.resize(rgb, (256, 256))
    canvas[22:278, 280:536] = big
    out = pp.preprocess(canvas, R)
    assert out.detection.num_faces >= 2 and any("faces found" in w for w in out.warnings)
    assert out.detection.box[0] >= 280


def test_no_align_centre_crop():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 50:150] = 255
    out = pp.preprocess(img, 64, align=False)
    assert out.image.shape == (64, 64, 3) and out.image.min() == 255


def test_astronaut_asset_aligns():
    from ide3d_backend.assets import ASTRONAUT
    out = pp.preprocess(ASTRONAUT, R)
    assert out.detection.eyes is not None and not out.warnings
