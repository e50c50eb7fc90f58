"""Typed results of the pose stage: the contract between pose, face, features and tests.

MoveNet's raw output is a [17, 3] tensor of (y, x, score) in normalised coordinates; exactly one
function (`pose_from_normalised`) turns it into these types, in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class BodyPart(IntEnum):
    """The 17 COCO keypoints in MoveNet's output order."""

    NOSE = 0
    LEFT_EYE = 1
    RIGHT_EYE = 2
    LEFT_EAR = 3
    RIGHT_EAR = 4
    LEFT_SHOULDER = 5
    RIGHT_SHOULDER = 6
    LEFT_ELBOW = 7
    RIGHT_ELBOW = 8
    LEFT_WRIST = 9
    RIGHT_WRIST = 10
    LEFT_HIP = 11
    RIGHT_HIP = 12
    LEFT_KNEE = 13
    RIGHT_KNEE = 14
    LEFT_ANKLE = 15
    RIGHT_ANKLE = 16


KEYPOINT_NAMES: tuple[str, ...] = tuple(p.name.lower() for p in BodyPart)

# Left/right partner of each keypoint: mirroring an image swaps these.
MIRROR_INDEX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


@dataclass(frozen=True, slots=True)
class Keypoint:
    """One body part in frame pixels. "left" is the person's own left (COCO convention)."""

    part: BodyPart
    x: float
    y: float
    score: float

    @property
    def name(self) -> str:
        return KEYPOINT_NAMES[self.part]


@dataclass(frozen=True, slots=True)
class Pose:
    """One person's 17 keypoints in one frame.

    `xy` is a (17, 2) float array of (x, y) in frame pixels and `scores` a (17,) float array;
    arrays rather than a list of objects so that feature maths stays vectorised and allocation-free.
    """

    xy: np.ndarray
    scores: np.ndarray
    frame_width: int
    frame_height: int

    def keypoint(self, part: BodyPart) -> Keypoint:
        return Keypoint(part, float(self.xy[part, 0]), float(self.xy[part, 1]), float(self.scores[part]))

    @property
    def keypoints(self) -> list[Keypoint]:
        return [self.keypoint(p) for p in BodyPart]

    def visible(self, part: BodyPart, min_score: float) -> bool:
        return bool(self.scores[part] >= min_score)

    def moved(self, dx: float, dy: float, frame_width: int, frame_height: int) -> Pose:
        """The same pose in a larger frame whose (dx, dy) is this frame's top-left corner."""
        return Pose(self.xy + np.array([dx, dy], dtype=self.xy.dtype), self.scores, frame_width, frame_height)

    def mirrored(self) -> Pose:
        """The same pose seen in a mirror: x flipped about the frame and left/right parts swapped."""
        idx = list(MIRROR_INDEX)
        xy = self.xy[idx].copy()
        xy[:, 0] = (self.frame_width - 1) - xy[:, 0]
        return Pose(xy, self.scores[idx].copy(), self.frame_width, self.frame_height)


def pose_from_normalised(raw: np.ndarray, frame_width: int, frame_height: int) -> Pose:
    """Turn MoveNet's (17, 3) [y, x, score] in [0, 1] of the frame into a Pose in frame pixels."""
    arr = np.asarray(raw, dtype=np.float32).reshape(17, 3)
    xy = np.empty((17, 2), dtype=np.float32)
    xy[:, 0] = arr[:, 1] * frame_width
    xy[:, 1] = arr[:, 0] * frame_height
    return Pose(xy, arr[:, 2].copy(), frame_width, frame_height)
