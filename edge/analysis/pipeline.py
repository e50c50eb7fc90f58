"""One analysed frame, end to end: pose (with crop tracking), frame features, and now and then emotion.

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
from edge.analysis.face import FaceCropper, face_for_emotion
from edge.analysis.features import FeatureExtractor, FrameFeatures
from edge.analysis.keypoints import Pose
from edge.analysis.models import ModelSet, load_models
from edge.analysis.pose import CropTracker, PoseEstimator
from edge.config import Config

logger = logging.getLogger(__name__)

STAGES = ("preprocess", "pose", "features", "emotion")


@dataclass
class FrameResult:
    """What one analysed frame says. `timings_ms` has every stage of `STAGES` (0.0 when not run)."""

    t: float
    pose: Pose | None  # None when nobody is in view
    features: FrameFeatures
    emotion: int | None  # index into EMOTIONS7 when the emotion model ran on this frame
    emotion_probs: np.ndarray | None
    timings_ms: dict[str, float]


class FrameAnalyzer:
    """Pose, features and emotion for a stream of frames of one camera (or recording).

    Emotion runs on every `analysis.emotion_every`-th analysed frame with a presenter in view (the
    1st, the (N+1)th, ...), and only when the face is frontal and at least `analysis.min_face_px` on a
    side: faces change slower than hands, and a turned or tiny face tells the model nothing.
    Not thread-safe: one analyser per analysing thread.
    """

    def __init__(self, cfg: Config, models: ModelSet | None = None) -> None:
        self.cfg = cfg
        self.models = models if models is not None else load_models(cfg)
        a = cfg.analysis
        self._min_score = a.min_keypoint_score
        self._pose = PoseEstimator(self.models.pose.path, self.models.threads)
        self._emotion: EmotionClassifier | None = None
        self._cropper: FaceCropper | None = None
        if cfg.models.emotion and self.models.emotion is not None:
            self._emotion = EmotionClassifier(self.models.emotion.path, self.models.threads)
            self._cropper = FaceCropper(self._emotion.input_size)
        self._tracker = CropTracker(enabled=a.crop_tracking)
        self._features = FeatureExtractor(cfg.features, a)
        self._with_person = 0  # analysed frames with a presenter since the last reset

    @property
    def models_info(self) -> dict[str, dict[str, str]]:
        """`{role: {name, sha256}}` of the models in use (emotion only when it runs)."""
        info = self.models.models_info()
        if self._emotion is None:
            info.pop("emotion", None)
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

    def reset(self) -> None:
        """A new session: the full frame again, and no speeds, baseline or sway from the last one."""
        self._tracker.reset()
        self._features.reset()
        self._with_person = 0

    def analyze(self, frame_bgr: np.ndarray, t: float) -> FrameResult:
        """Analyse one BGR frame taken at time `t` (seconds; the feature speeds use differences)."""
        h, w = frame_bgr.shape[:2]
        pose = self._pose.estimate(frame_bgr, self._tracker.region(w, h))
        t0 = time.perf_counter()
        features = self._features.update(pose, t)
        t1 = time.perf_counter()
        present = features.present
        self._tracker.update(pose if present else None)  # lost: the next frame starts from the full frame

        emotion: int | None = None
        probs: np.ndarray | None = None
        emotion_ms = 0.0
        if present:
            self._with_person += 1
            if self._emotion is not None and (self._with_person - 1) % self.cfg.analysis.emotion_every == 0:
                t2 = time.perf_counter()
                box = face_for_emotion(pose, self._min_score, self.cfg.analysis.min_face_px)
                if box is not None:
                    assert self._cropper is not None
                    p = self._emotion.classify(self._cropper.crop(frame_bgr, box))
                    probs = p.copy()
                    emotion = int(np.argmax(probs))
                emotion_ms = (time.perf_counter() - t2) * 1000.0
        return FrameResult(
            t=t,
            pose=pose if present else None,
            features=features,
            emotion=emotion,
            emotion_probs=probs,
            timings_ms={
                "preprocess": self._pose.last_preprocess_ms,
                "pose": self._pose.last_invoke_ms,
                "features": (t1 - t0) * 1000.0,
                "emotion": emotion_ms,
            },
        )
