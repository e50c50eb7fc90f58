"""N simulated devices on a real broker: valid, varied schema-v1 summaries (QoS 1) and `live` at 1 Hz.

Why it behaves like the device: each simulated device has its own MQTT 5 connection, client id and
retained status with a Last Will, publishes summaries with QoS 1 and counts one as delivered only
when the broker's PUBACK says success; a summary not acknowledged when the connection drops is sent
again after the reconnect (paho keeps it, as the device's spool does), so a broker restart loses
nothing and may duplicate, which the collector's idempotent store must absorb.
`ended_at` is the moment of the first publish, to the millisecond: the collector's `received_at`
minus `ended_at` is the end-to-end latency.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

METRICS = ("facing_audience", "turned_to_screen", "looking_down", "gesturing", "hands_in_pockets", "arms_crossed")
CONTINUOUS = ("wrist_speed", "sway_amplitude", "head_pitch")
LABELS = (None, "Ana", "Bo", "José", "Team B", "Zoë Müller", "trial 3")


def iso_ms(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_load_summary(run: str, device: str, seq: int, rng: random.Random, ended: datetime) -> dict[str, Any]:
    """A valid, varied summary: durations, shares, timeline lengths, findings and labels differ."""
    duration = round(rng.uniform(60, 1200), 1)  # 1-20 min rehearsals
    bins = max(1, int(duration // 5))
    analysed = int(duration * rng.uniform(4, 12))
    with_person = int(analysed * rng.uniform(0.6, 1.0))
    metrics: dict[str, Any] = {}
    for name in METRICS:
        metrics[name] = {"kind": "share", "share": round(rng.random(), 3), "n": with_person}
    for name in CONTINUOUS:
        mean = round(rng.uniform(0, 2), 3)
        metrics[name] = {"kind": "continuous", "unit": "sw", "mean": mean, "p10": round(mean * 0.5, 3),
                         "p50": mean, "p90": round(mean * 1.5, 3), "n": with_person}
    series = {
        name: [None if rng.random() < 0.05 else round(rng.random(), 2) for _ in range(bins)]
        for name in rng.sample(METRICS, k=rng.randint(1, 3))
    }
    c7 = [rng.random() for _ in range(7)]
    total = sum(c7)
    names7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    classes7 = {n: round(v / total, 4) for n, v in zip(names7, c7, strict=True)}
    pos = classes7["happy"] + classes7["surprise"]
    neg = classes7["angry"] + classes7["disgust"] + classes7["fear"] + classes7["sad"]
    feedback = [
        {"code": name, "severity": rng.choice(["info", "warning"]), "metric": name,
         "value": metrics[name]["share"], "threshold": 0.25, "message": f"{name.replace('_', ' ')} was high."}
        for name in rng.sample(METRICS, k=rng.randint(0, 3))
    ]
    started = ended - timedelta(seconds=duration)
    sha = f"{rng.getrandbits(256):064x}"
    return {
        "schema": 1,
        "session_id": f"{run}-{device}-{seq:05d}",
        "device": device,
        "label": rng.choice(LABELS),
        "started_at": iso_ms(started),
        "ended_at": iso_ms(ended),
        "duration_s": duration,
        "status": rng.choice(["complete"] * 9 + ["interrupted"]),
        "ended_by": rng.choice(["absence", "command", "shutdown"]),
        "frames": {"seen": analysed * 3, "analysed": analysed, "with_person": with_person, "dropped": 0,
                   "emotion": analysed // 3},
        "fps": {"analysed": round(analysed / duration, 2), "source": 30.0},
        "models": {"pose": {"name": "movenet_lightning_int8", "sha256": sha},
                   "emotion": {"name": "fer_pruned_int8", "sha256": sha}},
        "metrics": metrics,
        "emotion": {"frames": analysed // 3, "classes7": classes7,
                    "classes3": {"positive": round(pos, 4), "negative": round(neg, 4),
                                 "neutral": classes7["neutral"]}},
        "timeline": {"bin_s": 5.0, "series": series},
        "feedback": feedback,
    }


@dataclass
class DeviceStats:
    published: int = 0  # summaries handed to paho (first sends)
    acked: int = 0  # PUBACK with success
    refused: int = 0  # PUBACK with a failure reason code
    live: int = 0
    reconnects: int = 0
    pending: dict[int, str] = field(default_factory=dict)  # mid -> session id, awaiting PUBACK


class SimDevice:
    """One simulated device: its own MQTT 5 connection, status, summaries, live messages."""

    def __init__(self, name: str, host: str, port: int, prefix: str = "ppt") -> None:
        self.name, self.prefix = name, prefix
        self.stats = DeviceStats()
        self.lock = threading.Lock()
        self._early: dict[int, bool] = {}  # mid -> refused, for a PUBACK that arrived before its bookkeeping
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 2)
        self.client.max_queued_messages_set(0)
        self.client.will_set(f"{prefix}/{name}/status", json.dumps({"state": "offline", "reason": "lost"}), 1, True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect_async(host, port, keepalive=30)

    def start(self) -> None:
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            return
        client.publish(f"{self.prefix}/{self.name}/status",
                       json.dumps({"state": "online", "device": self.name, "version": "load"}), 1, True)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if self.connected.is_set():
            self.stats.reconnects += 1
        self.connected.clear()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        # paho calls this holding its own outgoing-message lock: take ours only here, never around
        # client.publish (the two locks in opposite orders deadlocked a 5,000-summary run).
        with self.lock:
            if self.stats.pending.pop(mid, None) is None:
                self._early[mid] = bool(rc.is_failure)  # the PUBACK beat publish_summary's bookkeeping
                return
            self._count_ack(bool(rc.is_failure))

    def _count_ack(self, refused: bool) -> None:
        if refused:
            self.stats.refused += 1
        else:
            self.stats.acked += 1

    def publish_summary(self, summary: dict[str, Any]) -> None:
        payload = json.dumps(summary, separators=(",", ":")).encode()
        info = self.client.publish(f"{self.prefix}/{self.name}/session/{summary['session_id']}", payload, qos=1)
        with self.lock:
            self.stats.published += 1
            early = self._early.pop(info.mid, None)
            if early is None:
                self.stats.pending[info.mid] = summary["session_id"]
            else:
                self._count_ack(early)

    def publish_live(self, t: float) -> None:
        if self.connected.is_set():
            self.client.publish(f"{self.prefix}/{self.name}/live",
                                json.dumps({"t": round(t, 3), "facing": random.random()}), qos=0)
            self.stats.live += 1

    def close(self) -> None:
        self.client.publish(f"{self.prefix}/{self.name}/status", json.dumps({"state": "offline"}), 1, True)
        self.client.disconnect()
        self.client.loop_stop()


class Fleet:
    """N devices publishing `total` summaries at `rate` per second overall (0: as fast as possible)
    and live messages at `live_hz` each."""

    def __init__(self, host: str, port: int, *, devices: int, run: str, seed: int = 1, live_hz: float = 1.0,
                 prefix: str = "ppt") -> None:
        self.run, self.live_hz = run, live_hz
        self.devices = [SimDevice(f"load-{i:04d}", host, port, prefix) for i in range(devices)]
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._live: threading.Thread | None = None
        self.sent: dict[str, float] = {}  # session id -> time.time() of its first publish

    def connect(self, timeout: float = 60.0) -> None:
        for i, d in enumerate(self.devices):
            d.start()
            if i % 20 == 19:
                time.sleep(0.05)  # do not open 200 connections in one burst
        deadline = time.monotonic() + timeout
        for d in self.devices:
            if not d.connected.wait(max(0.1, deadline - time.monotonic())):
                raise RuntimeError(f"simulated device {d.name} could not connect")
        if self.live_hz > 0:
            self._live = threading.Thread(target=self._live_loop, name="load-live", daemon=True)
            self._live.start()

    def _live_loop(self) -> None:
        period = 1.0 / self.live_hz
        while not self._stop.wait(period):
            t = time.time()
            for d in self.devices:
                d.publish_live(t)

    def publish(self, total: int, rate: float, on_progress: Any = None) -> None:
        """Round-robin over the devices; `on_progress(n)` after each summary (fault injection)."""
        start = time.monotonic()
        for n in range(total):
            if rate > 0:
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            d = self.devices[n % len(self.devices)]
            now = datetime.now(timezone.utc)
            summary = make_load_summary(self.run, d.name, n // len(self.devices), self.rng, now)
            self.sent[summary["session_id"]] = now.timestamp()
            d.publish_summary(summary)
            if on_progress is not None:
                on_progress(n + 1)

    def wait_acked(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(not d.stats.pending for d in self.devices):
                return True
            time.sleep(0.1)
        return False

    def totals(self) -> DeviceStats:
        out = DeviceStats()
        for d in self.devices:
            out.published += d.stats.published
            out.acked += d.stats.acked
            out.refused += d.stats.refused
            out.live += d.stats.live
            out.reconnects += d.stats.reconnects
        return out

    def close(self) -> None:
        self._stop.set()
        for d in self.devices:
            d.close()
