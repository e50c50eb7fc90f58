"""Where the head points: from the face stage's `HeadReading` when a fresh one is at hand, otherwise
from the body keypoints (nose, eyes, ears) as a fallback.

The face landmarks give real angles (degrees) and the eyes' own direction; the keypoint proxies give
a yaw that behaves like an angle and a pitch in shoulder widths that barely moves when a head tilts
toward the camera and cannot see lowered eyes. So the keypoints are only the fallback: for faces
too small for the landmark model, or between face runs once the last reading has gone stale.
The two pitch measures have different units and are kept apart (`head_pitch` in degrees from the
face, `head_pitch_kp` in shoulder widths from the keypoints); the yaw is degrees either way.

Image directions: yaw + is a turn toward the presenter's own left, which is the image right for a
presenter facing the camera; `head_direction` names directions in image terms so that a labeller
watching the video and the feature agree without thinking about whose left it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from edge.analysis.body import L_EAR, L_EYE, NOSE, R_EAR, R_EYE, REVERSED_SHOULDERS, Body, Points, mid
from edge.analysis.headpose import HeadReading

# A head turned within this many degrees of the facing or turned-to-the-screen threshold is not judged
# either way: the yaw reading itself is not surer than that. Measured: reading a turned head on a
# region moved as MediaPipe's tracker moves it changes the yaw by 1.9 degrees median, 4.2 p90 (the
# squats clip, docs/speed.md "Tracking the face region"). A presenter who stands half turned, right at
# a threshold, would otherwise get a share decided by those few degrees: 68% facing as recorded, 18%
# after a blur of 1.5 pixels (docs/validation.md, "Robustness"). Not a config key: it describes the
# reading, not a coaching preference.
YAW_UNSURE_DEG = 4.0

HeadDirection = Literal["frontal", "image_left", "image_right", "down", "back"]
HEAD_DIRECTIONS: tuple[str, ...] = ("frontal", "image_left", "image_right", "down", "back")


def _pair_yaw(nose: tuple[float, float], pl: tuple[float, float] | None,
              pr: tuple[float, float] | None) -> float | None:  # fmt: skip
    if pl is None or pr is None:
        return None
    dx, dy = pl[0] - pr[0], pl[1] - pr[1]
    spacing = math.hypot(dx, dy)
    if spacing < 1e-6:
        return None
    mx, my = mid(pl, pr)
    offset = ((nose[0] - mx) * dx + (nose[1] - my) * dy) / spacing  # along the right->left axis
    return math.degrees(math.atan2(offset, spacing * 0.5))


def keypoint_yaw(pts: Points, weak: Points) -> float | None:
    """Head yaw proxy in degrees, + when the presenter turned their head to their own left.

    Definition: the nose's offset from the midpoint of the ears (or of the eyes when an ear is not
    seen; when one of a pair is only weakly seen it still locates the midpoint), measured along the
    right-to-left ear axis, relative to half the ear spacing: yaw = atan(offset / (spacing / 2)).
    For a head whose nose sits about one ear half-spacing in front of the ear line (roughly true for
    adults) this is the turn angle; from the eyes it reads lower (about half at small turns). With
    only one ear and the nose seen (profile; the other ear not even weakly) it is +/-90. It is a
    proxy, not a calibrated angle: thresholds, not exact degrees, are what it is for.
    """
    nose = pts[NOSE]
    if nose is None:
        return None
    for left, right in ((L_EAR, R_EAR), (L_EYE, R_EYE)):
        yaw = _pair_yaw(nose, pts[left], pts[right])
        if yaw is not None:
            return yaw
    # One partner below the threshold but still located: a frontal face with a shy ear is common.
    for left, right in ((L_EAR, R_EAR), (L_EYE, R_EYE)):
        if pts[left] is not None or pts[right] is not None:
            yaw = _pair_yaw(nose, weak[left], weak[right])
            if yaw is not None:
                return yaw
    ear_l, ear_r = pts[L_EAR], pts[R_EAR]
    if (ear_l is None) != (ear_r is None):
        # Profile: only the ear on the camera side is seen (the other not even weakly). Seeing the
        # right ear means the presenter turned to their own left.
        return 90.0 if ear_r is not None else -90.0
    return None


def keypoint_pitch(pts: Points, body: Body | None) -> float | None:
    """Head pitch proxy in shoulder widths, + when the nose is below the ear line (looking down).

    Definition: distance of the nose from the line through both ears (perpendicular to it, positive
    downward; with one ear, the vertical offset from it), divided by the shoulder width. A level head
    seen from level reads about 0.05..0.15; a camera mounted high reads higher for everyone.
    """
    nose = pts[NOSE]
    if nose is None or body is None:
        return None
    ear_l, ear_r = pts[L_EAR], pts[R_EAR]
    if ear_l is not None and ear_r is not None:
        ux, uy = ear_l[0] - ear_r[0], ear_l[1] - ear_r[1]
        n = math.hypot(ux, uy)
        if n < 1e-6:
            return None
        s = 1.0 if ux >= 0 else -1.0  # the normal must point down the image whichever way the head faces
        nx, ny = -uy * s / n, ux * s / n
        mx, my = mid(ear_l, ear_r)
        return ((nose[0] - mx) * nx + (nose[1] - my) * ny) / body.scale
    ear = ear_l if ear_l is not None else ear_r
    if ear is None:
        return None
    return (nose[1] - ear[1]) / body.scale


def face_seen(pts: Points) -> bool:
    """Nose and both eyes seen: the face is turned (at least partly) toward the camera."""
    return pts[NOSE] is not None and pts[L_EYE] is not None and pts[R_EYE] is not None


def back_turned(pts: Points, body: Body | None) -> bool | None:
    """Back turned to the camera (audience): both shoulders seen and either no face keypoint (nose,
    eyes) seen, or the shoulders in reversed left/right order without a full face. None without
    shoulders."""
    if body is None:
        return None
    face_hidden = pts[NOSE] is None and pts[L_EYE] is None and pts[R_EYE] is None
    reversed_order = (body.sh_left[0] - body.sh_right[0]) < -REVERSED_SHOULDERS * body.sh_width
    return face_hidden or (reversed_order and not face_seen(pts))


def facing_by_yaw(yaw: float, yaw_max: float) -> bool | None:
    """|yaw| <= max, or None within `YAW_UNSURE_DEG` of it (too close to call)."""
    if abs(abs(yaw) - yaw_max) < YAW_UNSURE_DEG:
        return None
    return abs(yaw) <= yaw_max


def head_spacing(pts: Points) -> float | None:
    """The wider of the seen ear and eye spacings in pixels: the baseline the keypoint yaw divides by."""
    spans = [math.dist(pa, pb) for a, b in ((L_EAR, R_EAR), (L_EYE, R_EYE))
             if (pa := pts[a]) is not None and (pb := pts[b]) is not None]
    return max(spans) if spans else None


def keypoint_facing(pts: Points, yaw: float | None, back: bool | None, yaw_max: float,
                    too_small: bool = False) -> bool | None:  # fmt: skip
    """Face toward the camera (audience): nose and an eye seen, not back-turned, |yaw| <= max. None
    within `YAW_UNSURE_DEG` of it, or when the head is `too_small` for its yaw to decide (its spacing
    under `features.min_head_spacing_px`: one pixel of keypoint error is 10 degrees of yaw at 12 px)."""
    if back or yaw is None or pts[NOSE] is None or (pts[L_EYE] is None and pts[R_EYE] is None):
        return False
    if too_small:
        return None
    return facing_by_yaw(yaw, yaw_max)


def turned_toward(yaw: float | None, screen_side: str | None, yaw_min: float) -> bool | None:
    """Head turned toward the screen: yaw toward `screen_side` (as the presenter sees it) >= min.
    None when the yaw is unknown (a back fully turned is `back_to_audience`), within
    `YAW_UNSURE_DEG` of the threshold, or the screen's side is not set: a guessed side would count
    turns to the wrong side of the room."""
    if yaw is None or screen_side is None:
        return None
    toward = (1.0 if screen_side == "left" else -1.0) * yaw  # + yaw is a turn to the presenter's own left
    if abs(toward - yaw_min) < YAW_UNSURE_DEG:
        return None
    return toward >= yaw_min


def fresh_reading(reading: HeadReading | None, t: float, max_age_s: float, min_score: float) -> HeadReading | None:
    """The reading when it may stand for the frame at `t`: not older than `max_age_s` (nor from the
    future by more than that), finite angles and a face score >= `min_score`; else None."""
    if reading is None:
        return None
    if not abs(t - reading.t) <= max_age_s or not reading.score >= min_score:
        return None
    if not (math.isfinite(reading.yaw_deg) and math.isfinite(reading.pitch_deg)):
        return None
    return reading


def eyes_pitch(reading: HeadReading) -> float:
    """Where the eyes point, in degrees below the camera direction: head pitch plus the eyes' own
    pitch in the head (the head alone when the irises were not read). Lowered eyes under a level head
    are looking down too."""
    gaze = reading.gaze_pitch_deg
    if gaze is None or not math.isfinite(gaze):
        return reading.pitch_deg
    return reading.pitch_deg + gaze


def head_direction(back: bool | None, yaw: float | None, down: bool | None, yaw_max: float) -> str | None:
    """One word for where the head points, in image terms.

    "back" when the back is turned; otherwise "down" when looking down, whichever way the head is
    turned (a head bowed over notes is the state that matters; the labelling guide decides the same
    way); otherwise "image_right"/"image_left" when |yaw| > `yaw_max` (yaw + = the presenter's own
    left = image right for a presenter facing the camera); otherwise "frontal". None when the yaw is
    unknown (and the back not turned), or when the head is toward the camera and whether it is
    lowered is unknown.
    """
    if back:
        return "back"
    if down:
        return "down"
    if yaw is None:
        return None
    if yaw > yaw_max:
        return "image_right"
    if yaw < -yaw_max:
        return "image_left"
    if down is None:
        return None  # toward the camera, but whether up or down is unknown
    return "frontal"


@dataclass(frozen=True, slots=True)
class HeadView:
    """Everything the features say about the head on one frame."""

    yaw: float | None  # degrees, from the face when `from_face`, else the keypoint proxy
    pitch_deg: float | None  # degrees, from the face only
    eyes_pitch_deg: float | None  # head + eye pitch in degrees, from the face only
    pitch_kp: float | None  # keypoint proxy, shoulder widths
    from_face: bool | None  # None when neither source gave a yaw
    large: bool | None  # False when a keypoint head was too small to judge facing; None without a yaw
    back: bool | None
    facing: bool | None  # None: within YAW_UNSURE_DEG of the threshold, or a keypoint head too small
    turned: bool | None
    looking_down: bool | None
    direction: str | None


def read_head(
    pts: Points,
    weak: Points,
    body: Body | None,
    reading: HeadReading | None,
    *,
    screen_side: str | None,
    facing_yaw_max: float,
    turned_yaw_min: float,
    down_deg: float,
    min_head_spacing: float = 0.0,
) -> HeadView:
    """The head on one frame; `reading` must already be fresh (see `fresh_reading`) or None.

    With a reading: yaw and pitch from the face; looking down when the eyes (head + gaze) point at
    least `down_deg` below the camera direction. Without: the keypoint yaw proxy, and looking down
    unknown (None): the nose-below-the-ears proxy (`keypoint_pitch`, kept as a continuous measure)
    caught 15% of the labelled bowed-head frames, since it barely moves when a head tilts toward the
    camera and cannot see lowered eyes; a "no" from it would be a guess. Nor is facing judged from a
    keypoint head under `min_head_spacing` px (`keypoint_facing`). The back turned comes from the
    keypoints of this frame either way: the reading may be a few frames old.
    """
    back = back_turned(pts, body)
    pitch_kp = keypoint_pitch(pts, body)
    if reading is not None:
        yaw: float | None = reading.yaw_deg
        eyes = eyes_pitch(reading)
        facing = False if back else facing_by_yaw(reading.yaw_deg, facing_yaw_max)
        down: bool | None = bool(not back and eyes >= down_deg)
        pitch_deg: float | None = reading.pitch_deg
        eyes_deg: float | None = eyes
        from_face: bool | None = True
        large: bool | None = True
    else:
        yaw = keypoint_yaw(pts, weak)
        spacing = head_spacing(pts)
        too_small = spacing is not None and spacing < min_head_spacing
        facing = keypoint_facing(pts, yaw, back, facing_yaw_max, too_small)
        down = None
        pitch_deg = eyes_deg = None
        from_face = None if yaw is None else False
        large = None if yaw is None else not (too_small and facing is None)
    return HeadView(
        yaw=yaw,
        pitch_deg=pitch_deg,
        eyes_pitch_deg=eyes_deg,
        pitch_kp=pitch_kp,
        from_face=from_face,
        large=large,
        back=back,
        facing=facing,
        turned=turned_toward(yaw, screen_side, turned_yaw_min),
        looking_down=down,
        direction=head_direction(back, yaw, down, facing_yaw_max),
    )
