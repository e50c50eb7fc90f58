"""One face check: landmarks on the face box the pose gives, head pose and gaze from them, and the
emotion model on a crop aligned with the same landmarks.

`FaceCheck.run` is what the pipeline calls on the frames the face stage or the emotion model is due on:
- face box side >= `analysis.min_face_landmark_px`: the landmark model reads the face; when its
  face-presence probability is at least `MIN_FACE_SCORE` the check gives a `HeadReading` (with gaze
  from the iris model on the frames the face stage is due on) and, when emotion is due and the head
  is within the head poses of FER2013 (`EMOTION_YAW_DEG`, `EMOTION_PITCH_DEG`), classifies the
  landmark-aligned crop. When the landmark model
  finds no face in the crop (the back of a head, a hand in front of the face, a bad box), emotion is
  skipped too: there is nothing a classifier could read.
- smaller faces (down to `analysis.min_face_px`): no HeadReading (the features fall back on the
  keypoints); emotion, when due, reads today's keypoint box crop of a keypoint-frontal face, since the
  emotion model was trained on 48-pixel faces and still has something to read there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from edge.analysis.emotion import EmotionClassifier
from edge.analysis.face import FaceCropper, align_face, face_box, face_for_emotion, landmark_roi
from edge.analysis.facemesh import MIN_FACE_SCORE, FaceLandmarks, FaceMesh
from edge.analysis.headpose import PNP_IDS, HeadReading, combine_gaze, gaze_from_eye, solve_head_pose
from edge.analysis.keypoints import Pose

logger = logging.getLogger(__name__)

# The head poses the emotion model may read: the central 90% of FER2013's faces, read by this face
# stage (`python -m tools.quantize fer-template`: yaw p5/p95 -21.0/20.3, pitch -7.6/20.7 degrees on
# the 3,399 public-test faces the landmark model finds). Outside it the model was barely trained and
# its accuracy is unmeasured: a face bowed over notes is not classified rather than guessed at.
EMOTION_YAW_DEG = 21.0  # |yaw| at most
EMOTION_PITCH_DEG = (-8.0, 21.0)  # pitch (+ = down) within


@dataclass(frozen=True, slots=True)
class FaceResult:
    """What one face check read. `landmarks` is None when the landmark model did not run or found no
    face; `aligned` says whether the emotion crop came from the landmarks (else from the keypoint box)."""

    head: HeadReading | None
    landmarks: FaceLandmarks | None
    emotion_probs: np.ndarray | None
    aligned: bool
    face_ms: float
    emotion_ms: float


NO_FACE = FaceResult(None, None, None, False, 0.0, 0.0)


class FaceCheck:
    """The face models of one analyser with their reused crop buffers. Not thread-safe."""

    def __init__(self, mesh: FaceMesh | None, emotion: EmotionClassifier | None, min_score: float,
                 min_face_px: float, min_landmark_px: float) -> None:
        self.mesh = mesh
        self.emotion = emotion
        self.min_score = min_score
        self.min_face_px = min_face_px
        self.min_landmark_px = min_landmark_px
        self._cropper = FaceCropper(emotion.input_size) if emotion is not None else None
        self._aligned = np.empty((emotion.input_size,) * 2, dtype=np.uint8) if emotion is not None else None

    def run(self, frame_bgr: np.ndarray, pose: Pose, t: float, head: bool, emotion: bool) -> FaceResult:
        """Read the face of `pose` in the frame taken at `t`: the head when `head`, emotion when `emotion`."""
        want_emotion = emotion and self.emotion is not None
        if not (head or want_emotion):
            return NO_FACE
        box = face_box(pose, self.min_score)
        if box is None:
            return NO_FACE
        if self.mesh is not None and box.size >= self.min_landmark_px:
            t0 = time.perf_counter()
            lm = self.mesh.track(frame_bgr, landmark_roi(box))
            if lm.score < MIN_FACE_SCORE:
                return FaceResult(None, None, None, False, (time.perf_counter() - t0) * 1000.0, 0.0)
            reading = self._head(frame_bgr, lm, t, gaze=head)
            face_ms = (time.perf_counter() - t0) * 1000.0
            probs = None
            emotion_ms = 0.0
            if want_emotion and reading is not None and emotion_pose_ok(reading):
                assert self.emotion is not None and self._aligned is not None
                t1 = time.perf_counter()
                probs = self.emotion.classify(align_face(frame_bgr, lm.points, self._aligned)).copy()
                emotion_ms = (time.perf_counter() - t1) * 1000.0
            return FaceResult(reading, lm, probs, probs is not None, face_ms, emotion_ms)
        if not want_emotion:
            return NO_FACE
        t1 = time.perf_counter()
        kbox = face_for_emotion(pose, self.min_score, self.min_face_px)
        probs = None
        if kbox is not None:
            assert self.emotion is not None and self._cropper is not None
            probs = self.emotion.classify(self._cropper.crop(frame_bgr, kbox)).copy()
        return FaceResult(None, None, probs, False, 0.0, (time.perf_counter() - t1) * 1000.0)

    def _head(self, frame_bgr: np.ndarray, lm: FaceLandmarks, t: float, gaze: bool) -> HeadReading | None:
        return head_reading(frame_bgr, lm, t, self.mesh if gaze else None)


def emotion_pose_ok(reading: HeadReading) -> bool:
    """The head within the poses the emotion model was trained on (see `EMOTION_YAW_DEG`)."""
    return abs(reading.yaw_deg) <= EMOTION_YAW_DEG and EMOTION_PITCH_DEG[0] <= reading.pitch_deg <= EMOTION_PITCH_DEG[1]


def head_reading(frame_bgr: np.ndarray, lm: FaceLandmarks, t: float, mesh: FaceMesh | None) -> HeadReading | None:
    """The `HeadReading` of one landmark reading: head angles by solvePnP, and gaze from `mesh`'s iris
    model when it is given and has one (also what tools.quantize measures a quantized model by)."""
    h, w = frame_bgr.shape[:2]
    angles = solve_head_pose(lm.points[list(PNP_IDS), :2], w, h)
    if angles is None:
        return None
    gaze_yaw = gaze_pitch = None
    if mesh is not None:
        eyes = mesh.eyes(frame_bgr, lm)
        if eyes is not None:
            raw = [gaze_from_eye(e.corners[0], e.corners[1], e.iris) for e in eyes]
            gaze = combine_gaze(raw[0], raw[1], angles.yaw_deg)
            if gaze is not None:
                gaze_yaw, gaze_pitch = gaze
    return HeadReading(t=t, yaw_deg=angles.yaw_deg, pitch_deg=angles.pitch_deg, roll_deg=angles.roll_deg,
                       gaze_yaw_deg=gaze_yaw, gaze_pitch_deg=gaze_pitch, face_px=lm.roi.side, score=lm.score)
