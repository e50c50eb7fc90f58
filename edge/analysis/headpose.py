"""Head pose and gaze read from the face: the contract between the face stage and the features.

The face stage (MediaPipe face landmarks on the face box the pose gives, plus the iris model) fills a
`HeadReading` on the frames where it runs; `FeatureExtractor.update(pose, t, head=...)` uses the most
recent reading while it is fresh and falls back to the keypoint proxies when there is none (face too
small, turned away, not run on this frame).

Sign conventions match the keypoint features: yaw is + when the head turns toward the presenter's own
left (image right for a presenter facing the camera), pitch is + when the head tilts down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeadReading:
    """One frame's head pose and gaze, in degrees, relative to the camera (which stands for the audience)."""

    t: float  # time of the frame it was read on (the frame clock of FrameAnalyzer.analyze)
    yaw_deg: float  # + = turned toward the presenter's own left
    pitch_deg: float  # + = tilted down
    roll_deg: float  # + = the head tipped toward the presenter's own left shoulder
    gaze_yaw_deg: float | None  # eyes relative to the head, + = own left; None when the irises were not read
    gaze_pitch_deg: float | None  # eyes relative to the head, + = looking down; None when not read
    face_px: float  # face size in frame pixels (side of the landmark crop the reading came from)
    score: float  # face presence confidence of the landmark model, 0..1
