"""The configuration's sections: one frozen dataclass per TOML table, with documented defaults.

`Config` holds one of each. The defaults here are the documented ones (config.example.toml); the
loader that reads them from TOML and validates them, naming the key of every problem, is
`edge.config` (`load_config`), which is also where these classes are imported from.

`models.dir` defaults to a lookup, not a fixed path (`default_models_dir`, `MODELS_LOOKUP`): a clone,
an editable install and a wheel keep their models in different places.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MODELS_ENV = "PPT_EDGE_MODELS"
_PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_MODELS_DIR = _PACKAGE_DIR.parent / "models" / "quantized"  # a clone or an editable install
INSTALLED_MODELS_DIR = _PACKAGE_DIR / "bundled_models"  # the copy a wheel carries (setup.py puts it there)
REPO_MODELS_DIR = CHECKOUT_MODELS_DIR  # older name
MODELS_LOOKUP = (
    "models.dir in the config file, else $PPT_EDGE_MODELS, else models/quantized of the source checkout, "
    "else the copy installed with the package"
)


def default_models_dir() -> tuple[Path, str]:
    """The models folder when the config names none, and where that answer came from.

    In order: the environment variable $PPT_EDGE_MODELS; `models/quantized` of the source checkout this
    package runs from (a clone or an editable install: the repository's own pyproject.toml is beside
    `edge/`); the copy installed with the package (`edge/bundled_models` inside a wheel). Read when a
    config is made, never at import time.
    """
    env = os.environ.get(MODELS_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve(), f"${MODELS_ENV}"
    if (_PACKAGE_DIR.parent / "pyproject.toml").is_file() and CHECKOUT_MODELS_DIR.is_dir():
        return CHECKOUT_MODELS_DIR, "the source checkout"
    return INSTALLED_MODELS_DIR, "the copy installed with the package"


def _default_models_path() -> Path:
    return default_models_dir()[0]


@dataclass(frozen=True)
class DeviceConfig:
    id: str = "room-1"  # MQTT client id and topic segment: [A-Za-z0-9_-]+


@dataclass(frozen=True)
class ModelsConfig:
    dir: Path = field(default_factory=_default_models_path)  # manifest.json + int8 .tflite files (MODELS_LOOKUP)
    pose_variant: Literal["lightning", "thunder"] = "lightning"
    threads: int = 2  # TFLite interpreter threads, 1..8
    emotion: bool = True  # run the emotion model at all
    face: bool = True  # run the face landmark and iris models (head pose, gaze, aligned emotion crop)


@dataclass(frozen=True)
class AnalysisConfig:
    fps: float = 10.0  # frames analysed per second of video (picked by timestamp)
    emotion_every: int = 3  # run emotion on every Nth analysed frame
    min_face_px: int = 40  # smallest face box side (frame pixels) worth classifying
    min_keypoint_score: float = 0.3  # a keypoint below this counts as not seen
    # side of the screen, as the presenter sees it; unset: "turned to the screen" is not judged (a guessed
    # side would count the presenter's turns to the wrong side of the room)
    screen_side: Literal["left", "right"] | None = None
    crop_tracking: bool = True  # MoveNet crop-region tracking between frames
    face_every: int = 3  # run the face landmark stage (head pose, gaze) on every Nth analysed frame
    min_face_landmark_px: int = 48  # smallest face box side (frame pixels) the landmark model reads reliably
    # the part of the picture where the presenter stands (x0, y0, x1, y1 as fractions of the frame):
    # people outside it (an audience in the foreground) are never analysed
    stage: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True)
class FeaturesConfig:
    """Thresholds of the frame features (edge/analysis/features.py). Distances are in shoulder widths."""

    presence_min_keypoints: int = 5  # keypoints seen (>= min_keypoint_score) for "a presenter is in view"
    min_scale_px: float = 12.0  # a presenter under this many px per shoulder width is not measured (docs/metrics.md)
    min_head_spacing_px: float = 12.0  # a keypoint head under this ear/eye spacing (px): facing not judged
    facing_yaw_max_deg: float = 30.0  # |head yaw| up to this counts as facing the audience
    turned_yaw_min_deg: float = 45.0  # head yaw toward the screen side from this counts as turned to it
    slouch_drop: float = 0.08  # torso shorter than the upright baseline by this fraction: slouching
    baseline_warmup_s: float = 10.0  # seconds of measurable frames that set the upright baseline
    gesture_speed_min: float = 0.8  # smoothed wrist speed (sw/s, relative to the torso): above still-hand jitter
    max_gap_s: float = 1.0  # a longer gap between frames resets speeds and the sway window
    sway_window_s: float = 6.0  # window of the hip-sway analysis
    sway_amplitude_min: float = 0.08  # hip sway amplitude (shoulder widths) that counts as swaying
    sway_freq_min_hz: float = 0.2  # slower drifts are walking, not swaying
    sway_freq_max_hz: float = 1.5  # faster wobbles are keypoint jitter
    # --- features: head from the face, posture, keypoint smoothing (docs/metrics.md) ---
    looking_down_deg: float = 25.0  # eyes (head + gaze pitch from the face) this far below the camera: down
    head_max_age_s: float = 0.5  # a face reading stands for later frames up to this age, then keypoints
    head_min_score: float = 0.5  # face presence score a reading needs to be used
    posture_hold_s: float = 2.0  # the other posture's geometry must hold this long to change posture
    smooth_min_cutoff_hz: float = 0.5  # One Euro filter on keypoints: cutoff of a still joint
    smooth_beta: float = 2.0  # ...raised by this many Hz per shoulder width/s of joint speed
    motion_min_score: float = 0.5  # keypoints scoring less are left out of speeds (they jump, see docs)


@dataclass(frozen=True)
class SessionConfig:
    start_after_s: float = 3.0  # presence needed before a session starts
    end_after_s: float = 10.0  # absence that ends a session
    min_duration_s: float = 20.0  # shorter sessions are dropped
    bin_s: float = 5.0  # timeline bin width
    checkpoint_s: float = 5.0  # how often a running session is saved to disk
    start_gap_s: float = 1.0  # presence flickers shorter than this do not restart the start countdown
    max_bins: int = 720  # timeline bins per metric; past it neighbours merge and the bin width doubles


@dataclass(frozen=True)
class FeedbackConfig:
    max_findings: int = 3  # sparse feedback: only the few findings that matter most
    language: str = "en"
    facing_audience_min: float = 0.6  # share of time facing the audience
    facing_screen_max: float = 0.25  # share of time turned to the screen
    back_to_audience_max: float = 0.05
    looking_down_max: float = 0.2
    gesture_low: float = 0.15  # share of time gesturing below this: too static
    gesture_high: float = 0.85  # above this: restless
    hands_in_pockets_max: float = 0.2
    hands_behind_back_max: float = 0.2
    arms_crossed_max: float = 0.15
    slouch_max: float = 0.25  # share of time slouched against the upright baseline
    sway_max: float = 0.3  # share of time swaying
    # Shares of classified faces *read* as negative / positive. The model reads 24.7% of neutral faces as
    # negative, so 0.42 is what a session with 30% negative faces (neutral in the rest) reads; the 0.3 it
    # replaced was 10% (`evaluate-emotion`'s read rates, docs/emotion.md).
    negative_emotion_max: float = 0.42
    positive_emotion_min: float = 0.1  # no smile reads 9.4% positive: fires only for (almost) no smile
    min_frames: int = 50  # judged frames (counted at most 10 a second: feedback.EVIDENCE_FPS) before a rule may fire
    min_emotion_frames: int = 20  # classified faces needed before an emotion rule may fire
    # --- feedback: what a finding must rest on (docs/metrics.md) ---
    min_judged_share: float = 0.3  # a metric judged on less of the presence frames than this is not judged
    confidence_z: float = 1.64  # a share must be past its threshold by this many standard errors


@dataclass(frozen=True)
class TlsConfig:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False  # skip host-name check (test CAs only)


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "ppt"
    username: str | None = None
    password_file: Path | None = None  # or a systemd credential named by password_credential
    password_credential: str | None = None  # name under $CREDENTIALS_DIRECTORY
    tls: TlsConfig | None = None
    keepalive_s: int = 30
    live_hz: float = 2.0  # live topic rate while a session runs; 0 disables it
    # "auto": MQTT 5, or 3.1.1 when the broker's CONNACK refuses 5; "3.1.1" for brokers that only
    # speak it (the embedded amqtt): no MQTT 5 attempt at all. Only MQTT 5 reports refused publishes.
    protocol: Literal["auto", "5", "3.1.1"] = "auto"


@dataclass(frozen=True)
class CameraConfig:
    backend: Literal["picamera2", "v4l2", "gstreamer", "file"] = "v4l2"
    device: str = "0"  # v4l2: index or /dev/videoN
    pipeline: str = ""  # gstreamer: full pipeline string ending in appsink
    path: Path | None = None  # file: the recording
    loop: bool = False  # file: play again from the start at the end
    width: int = 640
    height: int = 480
    fps: float = 30.0
    read_timeout_s: float = 2.0  # a read slower than this counts as a stall
    rotation: int = 0  # degrees clockwise that turn the picture upright: 180 for a camera mounted upside down


@dataclass(frozen=True)
class StorageConfig:
    state_dir: Path = Path("/var/lib/ppt-edge")  # checkpoints; systemd StateDirectory
    spool_dir: Path | None = None  # default: <state_dir>/spool
    spool_max_files: int = 1000  # oldest dropped (and logged loudly) past this


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
