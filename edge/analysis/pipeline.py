"""One analysed frame, end to end: pose (with crop tracking), now and then a face check (landmarks,
head pose, gaze, emotion), and frame features.

This is the contract the daemon, `ppt-edge analyze` and `ppt-edge bench` share:

    analyzer = FrameAnalyzer(cfg)             # loads and verifies the models once
    result = analyzer.analyze(frame_bgr, t)   # t: seconds on the frame's own clock
    analyzer.reset()                          # a new session: forget tracking and feature state

The analyser keeps constant state (crop region, the feature extractor's fixed-size buffers, one
input buffer per model): nothing grows with the number of frames. Statistics are not kept here;
the caller feeds `result.features` and `result.emotion` to its `SessionStats`/`SessionTracker`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from edge.analysis.emotion import EmotionClassifier
from edge.analysis.facecheck import FaceCheck
from edge.analysis.facemesh import FaceMesh
from edge.analysis.features import FeatureExtractor, FrameFeatures, is_present
from edge.analysis.headpose import HeadReading
from edge.analysis.keypoints import Pose
from edge.analysis.models import ModelSet, load_models
from edge.analysis.pose import CropTracker, PoseEstimator
from edge.config import Config

logger = logging.getLogger(__name__)

STAGES = ("preprocess", "pose", "face", "features", "emotion")
WHOLE_FRAME = (0.0, 0.0, 1.0, 1.0)  # `analysis.stage` when the whole picture is the stage


@dataclass
class FrameResult:
    """What one analysed frame says. `timings_ms` has every stage of `STAGES` (0.0 when not run)."""

    t: float
    pose: Pose | None  # None when nobody is in view
    features: FrameFeatures
    emotion: int | None  # index into EMOTIONS7 when the emotion model ran on this frame
    emotion_probs: np.ndarray | None
    timings_ms: dict[str, float]
    head: HeadReading | None = None  # the face stage's reading when it ran on this frame and found a face


class FrameAnalyzer:
    """Pose, features and emotion for a stream of frames of one camera (or recording).

    The face stage (landmarks, head pose, gaze) runs on every `analysis.face_every`-th analysed frame
    with a presenter in view (the 1st, the (N+1)th, ...), emotion on every `analysis.emotion_every`-th
    (the landmarks run then too, to align its crop): faces change slower than hands. Which faces are
    read and how is `edge.analysis.facecheck`'s business. Both run in line, on the analysing thread:
    one check costs a few milliseconds (docs/face.md), far inside a frame period at `analysis.fps`,
    so it never delays the next pose frame there, and `analyze` and `bench` stay deterministic.
    Not thread-safe: one analyser per analysing thread.
    """

    def __init__(self, cfg: Config, models: ModelSet | None = None) -> None:
        self.cfg = cfg
        self.models = models if models is not None else load_models(cfg)
        a = cfg.analysis
        self._min_score = a.min_keypoint_score
        self._pose = PoseEstimator(self.models.pose.path, self.models.threads)
        self._emotion: EmotionClassifier | None = None
        if cfg.models.emotion and self.models.emotion is not None:
            self._emotion = EmotionClassifier(self.models.emotion.path, self.models.threads)
        mesh = None
        if cfg.models.face and self.models.face_landmark is not None:
            iris = self.models.iris.path if self.models.iris is not None else None
            mesh = FaceMesh(self.models.face_landmark.path, iris, self.models.threads)
        self._face = FaceCheck(mesh, self._emotion, self._min_score, a.min_face_px, a.min_face_landmark_px)
        self._tracker = CropTracker(enabled=a.crop_tracking)
        self._features = FeatureExtractor(cfg.features, a)
        self._with_person = 0  # analysed frames with a presenter since the last reset
        self._stage = None if a.stage == WHOLE_FRAME else a.stage  # None: no view to cut, no pose to move

    @property
    def models_info(self) -> dict[str, dict[str, str]]:
        """`{role: {name, sha256}}` of the models in use (emotion only when it runs)."""
        info = self.models.models_info()
        if self._emotion is None:
            info.pop("emotion", None)
        if self._face.mesh is None:
            info.pop("face_landmark", None)
            info.pop("iris", None)
        return info

    @property
    def pose_estimator(self) -> PoseEstimator:
        """The pose interpreter (the bench times its bare invoke with the same settings)."""
        return self._pose

    @property
    def emotion_classifier(self) -> EmotionClassifier | None:
        """The emotion interpreter (None when switched off); its `last_face` is the crop it last read."""
        return self._emotion

    @property
    def emotion_enabled(self) -> bool:
        return self._emotion is not None

    @property
    def face_enabled(self) -> bool:
        return self._face.mesh is not None

    def reset(self) -> None:
        """A new session: the full frame again, and no speeds, baseline or sway from the last one."""
        self._tracker.reset()
        self._features.reset()
        self._with_person = 0

    def analyze(self, frame_bgr: np.ndarray, t: float) -> FrameResult:
        """Analyse one BGR frame taken at time `t` (seconds; the feature speeds use differences).

        Only `analysis.stage` of the frame is analysed (a view, no copy): its edges are the picture's
        edges for every stage, and the pose comes back in the whole frame's pixels."""
        full_h, full_w = frame_bgr.shape[:2]
        x0 = y0 = 0
        if self._stage is not None:
            x0, y0, x1, y1 = stage_bounds(self._stage, full_w, full_h)
            frame_bgr = frame_bgr[y0:y1, x0:x1]
        h, w = frame_bgr.shape[:2]
        a = self.cfg.analysis
        pose = self._pose.estimate(frame_bgr, self._tracker.region(w, h))
        face = None
        if is_present(pose, self._min_score, self.cfg.features.presence_min_keypoints):
            n = self._with_person
            self._with_person += 1
            face = self._face.run(frame_bgr, pose, t, head=n % a.face_every == 0, emotion=n % a.emotion_every == 0)
        head = face.head if face is not None else None
        t0 = time.perf_counter()
        features = self._features.update(pose, t, head)
        t1 = time.perf_counter()
        present = features.present
        self._tracker.update(pose if present else None)  # lost: the next frame starts from the full frame

        probs = face.emotion_probs if face is not None and present else None
        if present and self._stage is not None:
            pose = pose.moved(x0, y0, full_w, full_h)
        return FrameResult(
            t=t,
            pose=pose if present else None,
            features=features,
            emotion=int(np.argmax(probs)) if probs is not None else None,
            emotion_probs=probs,
            timings_ms={
                "preprocess": self._pose.last_preprocess_ms,
                "pose": self._pose.last_invoke_ms,
                "face": face.face_ms if face is not None else 0.0,
                "features": (t1 - t0) * 1000.0,
                "emotion": face.emotion_ms if face is not None else 0.0,
            },
            head=head if present else None,
        )


def stage_bounds(stage: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """`analysis.stage` (fractions) in whole pixels of a width x height frame, at least 2 px each way."""
    x0, y0 = int(round(stage[0] * width)), int(round(stage[1] * height))
    x1, y1 = int(round(stage[2] * width)), int(round(stage[3] * height))
    return x0, y0, max(x1, min(width, x0 + 2)), max(y1, min(height, y0 + 2))
