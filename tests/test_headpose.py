"""Head-pose geometry on synthetic projections of the canonical face: known angles in, the same angles
out (with landmark noise, off-centre faces, other focal lengths); gaze from an eye; the crop maps."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge.analysis import headpose as hp
from edge.analysis.face import (
    FER_TEMPLATE,
    SquareRoi,
    align_face,
    face_centres,
    model_to_frame,
    roi_matrix,
    similarity,
    warp_region,
)

W, H = 1280, 720
ANGLES = [(0, 0, 0), (30, 0, 0), (-30, 0, 0), (0, 25, 0), (0, -20, 0), (-40, 10, 5), (10, -25, -15),
          (20, 20, 10), (55, 5, 0), (-55, -5, 0), (0, 0, 30)]


@pytest.mark.parametrize("angles", ANGLES)
def test_recovers_known_angles_exactly_without_noise(angles: tuple[float, float, float]) -> None:
    pts = hp.project_canonical(angles, (0.0, 0.0, 90.0), W, H)
    got = hp.solve_head_pose(pts, W, H)
    assert got is not None
    assert (got.yaw_deg, got.pitch_deg, got.roll_deg) == pytest.approx(angles, abs=0.05)
    assert got.distance == pytest.approx(90.0, rel=1e-3)


@pytest.mark.parametrize("angles", ANGLES)
def test_a_small_face_in_a_large_frame_is_read_not_raised(angles: tuple[float, float, float]) -> None:
    """A face about 8 px across its landmarks' spread in a 6000x4000 frame (a small presenter in a
    wide, sharp camera): SQPnP asserts on such points (OpenCV's "point_coordinate_variance" error,
    which ended a whole analysis); the reading comes from EPnP instead, as exact as ever, and points
    that no solver takes give None."""
    import cv2

    w, h = 6000, 4000
    pts = hp.project_canonical(angles, (0.0, 0.0, 3000.0), w, h)
    with pytest.raises(cv2.error):
        cv2.solvePnP(hp.PNP_POINTS, np.ascontiguousarray(pts), hp.camera_matrix(w, h), None, flags=cv2.SOLVEPNP_SQPNP)
    got = hp.solve_head_pose(pts, w, h)
    assert got is not None
    assert (got.yaw_deg, got.pitch_deg, got.roll_deg) == pytest.approx(angles, abs=0.05)
    assert hp.solve_head_pose(np.full_like(pts, 100.0), w, h) is None  # all in one point


def test_recovers_angles_within_tolerance_with_landmark_noise() -> None:
    """1.5 px of landmark noise on a face of about 100 px (a 90 cm-wide view): within 4 degrees."""
    rng = np.random.default_rng(7)
    errs = []
    for angles in ANGLES:
        pts = hp.project_canonical(angles, (0.0, 0.0, 180.0), W, H)
        for _ in range(10):
            got = hp.solve_head_pose(pts + rng.normal(0, 1.5, pts.shape), W, H)
            assert got is not None
            errs.append(np.abs(np.array([got.yaw_deg, got.pitch_deg, got.roll_deg]) - angles))
    e = np.array(errs)
    assert np.percentile(e[:, :2], 90) < 4.0, np.percentile(e, 90, axis=0)
    assert e[:, 2].mean() < 1.5


def test_angles_are_relative_to_the_line_of_sight() -> None:
    """A presenter at the frame's edge who looks into the camera faces the audience: yaw ~ 0; one who
    looks straight ahead (parallel to the optical axis) from there is turned away from the lens."""
    t = np.array([60.0, -15.0, 150.0])
    to_camera = -t / np.linalg.norm(t)
    yaw = math.degrees(math.atan2(to_camera[0], -to_camera[2]))
    pitch = math.degrees(math.atan2(to_camera[1], math.hypot(to_camera[0], to_camera[2])))
    facing = hp.solve_head_pose(hp.project_canonical((yaw, pitch, 0.0), tuple(t), W, H), W, H)
    assert facing is not None and abs(facing.yaw_deg) < 0.1 and abs(facing.pitch_deg) < 0.1
    ahead = hp.solve_head_pose(hp.project_canonical((0.0, 0.0, 0.0), tuple(t), W, H), W, H)
    assert ahead is not None and ahead.yaw_deg == pytest.approx(-yaw, abs=0.1) and ahead.yaw_deg > 15


def test_unknown_focal_length_costs_little() -> None:
    """The real camera's focal length differs from the assumed one by 1.6x either way: the angles of
    a face near the image centre move by a few degrees at most."""
    for angles in ((30, 0, 0), (0, 25, 0), (-20, -10, 5)):
        for factor in (0.6, 1.6):
            k_true = hp.camera_matrix(W, H)
            k_true[0, 0] *= factor
            k_true[1, 1] *= factor
            rvec, _ = cv2.Rodrigues(hp.rotation_from_angles(*angles))
            pts, _ = cv2.projectPoints(hp.PNP_POINTS, rvec, np.array([5.0, 3.0, 120.0 * factor]), k_true, None)
            got = hp.solve_head_pose(pts.reshape(-1, 2), W, H)
            assert got is not None
            assert abs(got.yaw_deg - angles[0]) < 5 and abs(got.pitch_deg - angles[1]) < 5


def test_rotation_round_trip_and_sign_conventions() -> None:
    for angles in ANGLES:
        assert hp.angles_from_rotation(hp.rotation_from_angles(*angles)) == pytest.approx(angles, abs=1e-9)
    # + yaw (own left) moves the nose toward the image right; + pitch (down) moves it down
    centre = hp.project_canonical((0, 0, 0), (0, 0, 90), W, H)[hp.PNP_IDS.index(4)]
    left = hp.project_canonical((20, 0, 0), (0, 0, 90), W, H)[hp.PNP_IDS.index(4)]
    down = hp.project_canonical((0, 20, 0), (0, 0, 90), W, H)[hp.PNP_IDS.index(4)]
    assert left[0] > centre[0] + 5 and down[1] > centre[1] + 5
    with pytest.raises(ValueError):
        hp.solve_head_pose(np.zeros((5, 2)), W, H)


def test_gaze_from_eye() -> None:
    a, b = np.array([100.0, 200.0]), np.array([130.0, 200.0])
    assert hp.gaze_from_eye(a, b, np.array([115.0, 200.0])) == pytest.approx((0.0, 0.0))
    yaw, pitch = hp.gaze_from_eye(b, a, np.array([118.0, 203.0]))  # corners in either order
    assert yaw > 10 and pitch > 5  # toward the image right and down
    # head roll does not read as gaze: the same eye rotated by 30 degrees
    r = np.array([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])
    rolled = hp.gaze_from_eye(r @ a, r @ b, r @ np.array([118.0, 203.0]))
    assert rolled == pytest.approx((yaw, pitch), abs=1e-6)
    # neutral offsets cancel for eyes that look into the camera; the near eye alone past 30 degrees yaw
    neutral_l = (-hp.GAZE_NEUTRAL_OUTWARD_DEG, hp.GAZE_NEUTRAL_PITCH_DEG)
    neutral_r = (hp.GAZE_NEUTRAL_OUTWARD_DEG, hp.GAZE_NEUTRAL_PITCH_DEG)
    assert hp.combine_gaze(neutral_l, neutral_r, 0.0) == pytest.approx((0.0, 0.0))
    assert hp.combine_gaze(neutral_l, (40.0, 30.0), 45.0) == pytest.approx((0.0, 0.0))
    # an eye read past the eyes' range is a misread (an iris under lowered lids): left out
    up = (-hp.GAZE_NEUTRAL_OUTWARD_DEG, hp.GAZE_NEUTRAL_PITCH_DEG - 60.0)
    assert hp.combine_gaze(up, neutral_r, 0.0) == pytest.approx((0.0, 0.0))
    assert hp.combine_gaze(up, up, 0.0) is None


def test_roi_matrix_and_model_to_frame_agree() -> None:
    """A frame point mapped into the model input by `roi_matrix` comes back by `model_to_frame` (model
    coordinate = OpenCV pixel + 0.5), rotated and mirrored alike."""
    roi = SquareRoi(320.0, 240.0, 150.0, math.radians(20))
    pts = np.array([[300.0, 230.0], [350.0, 260.0], [320.0, 240.0]])
    for flip in (False, True):
        m = roi_matrix(roi, 192, flip)
        inside = (m[:, :2] @ pts.T).T + m[:, 2]
        back = model_to_frame(inside + 0.5, roi, 192, flip)
        assert back == pytest.approx(pts, abs=1e-9)
    # the region's centre is the input's centre; its corner the input's corner
    assert model_to_frame(np.array([[96.0, 96.0]]), roi, 192)[0] == pytest.approx([320.0, 240.0])


def test_warp_region_shrinks_large_regions_without_aliasing() -> None:
    """A fine stripe pattern seen through a 10x shrink comes out as flat grey (area filter first),
    and the region's content lands where the matrix says, also past the frame edge (border repeated)."""
    img = np.zeros((2000, 2000, 3), np.uint8)
    img[:, ::2] = 255
    out = np.empty((192, 192, 3), np.uint8)
    m = roi_matrix(SquareRoi(1000.0, 1000.0, 1920.0), 192)
    warp_region(img, m, out)
    naive = cv2.warpAffine(img, m, (192, 192), flags=cv2.INTER_LINEAR)
    assert abs(float(naive.mean()) - 127.5) > 100  # point sampling sees one stripe colour only
    assert out.std() < 20 and abs(float(out.mean()) - 127.5) < 20
    img2 = np.zeros((100, 100, 3), np.uint8)
    img2[:, 50:] = (0, 0, 255)  # red (BGR) on the right half
    warp_region(img2, roi_matrix(SquareRoi(90.0, 50.0, 40.0), 64), out[:64, :64])
    small = out[:64, :64]
    assert small[32, 60, 0] == 255 and small[32, 60, 2] == 0  # RGB out; the border repeats the red edge


def test_similarity_and_align_face() -> None:
    src = np.array([[10.0, 10.0], [30.0, 12.0], [19.0, 40.0]])
    ang, scale, shift = math.radians(15), 2.5, np.array([5.0, -3.0])
    r = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    dst = (scale * (r @ src.T)).T + shift
    m = similarity(src, dst)
    assert m[:, :2] == pytest.approx(scale * r) and m[:, 2] == pytest.approx(shift)
    # a synthetic face: dark eyes and mouth where 468 landmarks say, 4x FER size and tilted
    pts = np.zeros((468, 2))
    c = np.array([400.0, 300.0])
    tmpl = (FER_TEMPLATE - 24.0) * 4.0
    rot = np.array([[math.cos(0.3), -math.sin(0.3)], [math.sin(0.3), math.cos(0.3)]])
    centres = (rot @ tmpl.T).T + c
    from edge.analysis.face import LEFT_EYE_IDS, MOUTH_IDS, RIGHT_EYE_IDS

    for ids, p in zip((RIGHT_EYE_IDS, LEFT_EYE_IDS, MOUTH_IDS), centres, strict=True):
        pts[list(ids)] = p
    assert face_centres(pts) == pytest.approx(centres)
    frame = np.full((600, 800, 3), 220, np.uint8)
    for p in centres:
        cv2.circle(frame, (round(p[0]), round(p[1])), 8, (0, 0, 0), -1)
    face = align_face(frame, pts)
    assert face.shape == (48, 48) and face.dtype == np.uint8
    for x, y in FER_TEMPLATE:
        assert face[round(y), round(x)] < 60  # each dark blob lands on its template position
