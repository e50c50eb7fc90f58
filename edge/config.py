"""One typed configuration, loaded from TOML and validated at start.

Every section is a frozen dataclass with documented defaults. The loader (`load_config`) rejects
unknown keys and bad values with a message that names the key (e.g. `session.end_after_s`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO_MODELS_DIR = Path(__file__).resolve().parent.parent / "models" / "quantized"


@dataclass(frozen=True)
class DeviceConfig:
    id: str = "room-1"  # MQTT client id and topic segment: [A-Za-z0-9_-]+


@dataclass(frozen=True)
class ModelsConfig:
    dir: Path = REPO_MODELS_DIR  # folder with manifest.json and the int8 .tflite files
    pose_variant: Literal["lightning", "thunder"] = "lightning"
    threads: int = 2  # TFLite interpreter threads, 1..8
    emotion: bool = True  # run the emotion model at all


@dataclass(frozen=True)
class AnalysisConfig:
    fps: float = 10.0  # frames analysed per second of video (picked by timestamp)
    emotion_every: int = 3  # run emotion on every Nth analysed frame
    min_face_px: int = 40  # smallest face box side (frame pixels) worth classifying
    min_keypoint_score: float = 0.3  # a keypoint below this counts as not seen
    screen_side: Literal["left", "right"] = "left"  # side of the screen, as the presenter sees it
    crop_tracking: bool = True  # MoveNet crop-region tracking between frames


@dataclass(frozen=True)
class SessionConfig:
    start_after_s: float = 3.0  # presence needed before a session starts
    end_after_s: float = 10.0  # absence that ends a session
    min_duration_s: float = 20.0  # shorter sessions are dropped
    bin_s: float = 5.0  # timeline bin width
    checkpoint_s: float = 5.0  # how often a running session is saved to disk


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
    negative_emotion_max: float = 0.3  # share of classified faces that are negative
    positive_emotion_min: float = 0.1


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
    session: SessionConfig = field(default_factory=SessionConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
