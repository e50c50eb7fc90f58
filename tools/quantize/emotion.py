"""Train and prune the emotion model on FER2013 (`python -m tools.quantize emotion`).

Why this design: faces are 48×48 grey crops, so a small VGG-style CNN (~250k weights, global average
pooling instead of a large dense head) fits the Pi, and int8 keeps the file under 300 KB even though
TFLite stores pruned weights dense. With so few weights, accuracy comes from the data side: strong
augmentation (flip, small rotation/scale/shift, light and contrast, random erasing), label smoothing,
a warm-up + cosine schedule and many epochs. `emotion_prune` then prunes the float export to ≥50% zero
weights with a distilled fine-tune; `emotion_export` folds the mirror-image average into the graph and
quantizes to full int8.

Domain check: the tool compares the sharpness of the training and validation faces before it trains
and refuses a training split much blurrier than the faces it will be judged on (a blurred copy of
FER2013's training split once gave a model that scored 13-17% on sharp faces). It does not try to
compensate: the fix is the right data, named in the error.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tools.quantize.fer import load_fer
from tools.quantize.sources import SourceError

logger = logging.getLogger(__name__)

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tensorflow-model-optimization needs Keras 2

# A training split whose median Laplacian variance is below this share of the validation split's is
# refused (the blurred FER copy measured 6 against 2,117: 0.003; the sharp one 1,621: 0.77).
MIN_SHARPNESS_RATIO = 0.25
# Conv widths per stage (each stage ends in a 2×2 max-pool except the last): 48 → 24 → 12 → 6.
DEFAULT_WIDTHS: tuple[tuple[int, ...], ...] = ((32, 32), (48, 48), (80, 80), (160,))


class BlurredSplitError(SourceError):
    """The training faces are much blurrier than the validation faces: a model trained on them would
    fail on the sharp faces a camera sees."""


@dataclass
class EmotionTrainConfig:
    epochs: int = 60
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.02
    label_smoothing: float = 0.1
    erase_p: float = 0.5
    widths: tuple[tuple[int, ...], ...] = DEFAULT_WIDTHS
    limit: int | None = None  # train on a subset (tests)
    seed: int = 1234
    flip_tta: bool = True
    min_sharpness_ratio: float = MIN_SHARPNESS_RATIO
    log_every: int = 0  # validation every N epochs (0: about 10 times per stage)
    bf16: bool = False  # mixed bfloat16 compute while training (weights stay float32; export is float32)
    minutes: float | None = None  # a wall-clock budget for the float stage instead of a fixed epoch count


def parse_widths(spec: str) -> tuple[tuple[int, ...], ...]:
    """"32,32:48,48:80,80:160" → ((32, 32), (48, 48), (80, 80), (160,))."""
    try:
        stages = tuple(tuple(int(c) for c in stage.split(",")) for stage in spec.split(":"))
    except ValueError as exc:
        raise SourceError(f"--widths {spec!r}: expected comma-separated ints per stage, stages split by ':'") from exc
    if not stages or any(not s or min(s) < 1 for s in stages) or len(stages) > 4:
        raise SourceError(f"--widths {spec!r}: 1 to 4 stages of positive conv widths")
    return stages


def widths_spec(widths: tuple[tuple[int, ...], ...]) -> str:
    return ":".join(",".join(str(c) for c in s) for s in widths)


def sharpness(faces: np.ndarray) -> float:
    """Median variance of the Laplacian: a blur measure that ignores brightness and contrast shifts."""
    sample = faces[:: max(1, len(faces) // 2000)]
    return float(np.median([cv2.Laplacian(f.astype(np.float32), cv2.CV_32F).var() for f in sample]))


def check_sharpness(train: np.ndarray, val: np.ndarray, train_path: Path, val_path: Path,
                    min_ratio: float = MIN_SHARPNESS_RATIO) -> tuple[float, float]:
    """(train, val) sharpness; raise BlurredSplitError naming both figures and files when the training
    faces are much blurrier than the validation faces."""
    st, sv = sharpness(train), sharpness(val)
    logger.info("sharpness (median Laplacian variance): training %.1f (%s), validation %.1f (%s)",
                st, train_path, sv, val_path)
    if sv > 0 and st < min_ratio * sv:
        raise BlurredSplitError(
            f"{train_path}: the training faces are much blurrier than the validation faces in {val_path} "
            f"(sharpness, the median Laplacian variance: {st:.1f} against {sv:.1f}, a ratio of {st / sv:.3f} "
            f"< {min_ratio}); a model trained on them fails on sharp camera faces. Use the sharp training "
            "split listed in shared/SOURCES.md")
    return st, sv


def _keras() -> Any:
    import tf_keras as keras

    return keras


def build_model(widths: tuple[tuple[int, ...], ...] = DEFAULT_WIDTHS, dropout: float = 0.3,
                folded: bool = False) -> Any:
    """Input: 48×48 grey pixels 0..255. Output: 7 softmax scores (FER order). `folded`: batch norm
    folded into each convolution (conv + bias + ReLU), the shape of the float export that
    `emotion_prune` fine-tunes."""
    keras = _keras()
    L = keras.layers
    inp = L.Input((48, 48, 1), name="face")
    x = L.Rescaling(1 / 127.5, offset=-1.0)(inp)
    for i, stage in enumerate(widths):
        for c in stage:
            if folded:
                x = L.Conv2D(c, 3, padding="same", activation="relu")(x)
                continue
            x = L.Conv2D(c, 3, padding="same", use_bias=False)(x)
            x = L.BatchNormalization()(x)
            x = L.ReLU()(x)
        if i < len(widths) - 1:
            x = L.MaxPooling2D()(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(dropout)(x)
    out = L.Dense(7, activation="softmax", name="emotion", dtype="float32")(x)  # float softmax under bf16
    return keras.Model(inp, out, name="ppt_emotion")


def _affine(b: Any, max_deg: float, scale: tuple[float, float], shift: float) -> Any:
    """Per-face random mirror, rotation, scale and shift as ONE projective transform ([b, 8], output →
    input pixel): a single bilinear resampling, so augmentation does not soften the faces the way a
    chain of rotate, zoom and translate layers would (the test faces are sharp)."""
    import tensorflow as tf

    c = 23.5
    theta = tf.random.uniform([b], -1.0, 1.0) * (max_deg * math.pi / 180.0)
    inv_s = 1.0 / tf.random.uniform([b], scale[0], scale[1])
    flip = tf.where(tf.random.uniform([b]) < 0.5, -1.0, 1.0)
    dx = tf.random.uniform([b], -shift, shift) * 48.0
    dy = tf.random.uniform([b], -shift, shift) * 48.0
    cos, sin = tf.cos(theta) * inv_s, tf.sin(theta) * inv_s
    a00, a01, a10, a11 = cos * flip, -sin, sin * flip, cos
    a2 = c - a00 * c - a01 * c + dx
    b2 = c - a10 * c - a11 * c + dy
    zeros = tf.zeros([b])
    return tf.stack([a00, a01, a2, a10, a11, b2, zeros, zeros], axis=1)


def _augment_fn(seed: int, erase_p: float) -> Any:
    """Batched augmentation on the training faces (uint8 → float 0..255): geometry, light, random erasing."""
    import tensorflow as tf

    tf.random.set_seed(seed)
    yy, xx = tf.meshgrid(tf.range(48, dtype=tf.float32), tf.range(48, dtype=tf.float32), indexing="ij")

    def augment(x: Any, y: Any) -> tuple[Any, Any]:
        x = tf.cast(x, tf.float32)[..., None]
        b = tf.shape(x)[0]
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=_affine(b, 12.0, (0.87, 1.15), 0.1), output_shape=tf.constant([48, 48]),
            fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
        gain = tf.random.uniform([b, 1, 1, 1], 0.7, 1.3)
        bias = tf.random.uniform([b, 1, 1, 1], -25.0, 25.0)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = tf.clip_by_value((x - mean) * gain + mean + bias, 0.0, 255.0)
        # random erasing: one rectangle of 2-25% of the face, aspect 0.3-3.3, filled with noise
        area = tf.random.uniform([b], 0.02, 0.25) * 48 * 48
        aspect = tf.exp(tf.random.uniform([b], math.log(0.3), math.log(3.3)))
        h = tf.minimum(tf.sqrt(area * aspect), 47.0)
        w = tf.minimum(tf.sqrt(area / aspect), 47.0)
        y0 = tf.random.uniform([b]) * (48 - h)
        x0 = tf.random.uniform([b]) * (48 - w)
        on = tf.cast(tf.random.uniform([b]) < erase_p, tf.float32)

        def col(v: Any) -> Any:
            return v[:, None, None]

        inside = ((yy[None] >= col(y0)) & (yy[None] < col(y0 + h)) & (xx[None] >= col(x0)) & (xx[None] < col(x0 + w)))
        mask = (tf.cast(inside, tf.float32) * col(on))[..., None]
        noise = tf.random.uniform(tf.shape(x), 0.0, 255.0)
        return x * (1 - mask) + noise * mask, y

    return augment


def _progress_callbacks(stage: str, epochs: int, val: tuple[np.ndarray, np.ndarray], every: int) -> list[Any]:
    """One log line per epoch on stderr (seconds included); validation accuracy every `every` epochs."""
    keras = _keras()

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._t = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            seconds = time.monotonic() - self._t
            val_acc = "-"
            if (epoch + 1) % every == 0 or epoch + 1 == epochs or self.model.stop_training:
                probs = self.model.predict(val[0], batch_size=256, verbose=0)
                val_acc = f"{float((probs.argmax(axis=1) == val[1]).mean()):.4f}"
            logger.info("%s epoch %d/%s  loss=%.4f acc=%.4f val_acc=%s  %.0f s", stage, epoch + 1, epochs or "?",
                        logs.get("loss", float("nan")), logs.get("accuracy", float("nan")), val_acc, seconds)

    return [EpochLog()]


def _cosine(lr: float, epochs: int, steps: int, warmup_epochs: float = 1.0) -> Any:
    keras = _keras()
    total = max(1, epochs * steps)
    warm = int(min(total // 4, warmup_epochs * steps))

    class WarmCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> Any:
            import tensorflow as tf

            step = tf.cast(step, tf.float32)
            warm_lr = lr * (step + 1) / max(1, warm)
            prog = tf.clip_by_value((step - warm) / max(1, total - warm), 0.0, 1.0)
            cos_lr = 0.5 * lr * (1 + tf.cos(math.pi * prog))
            return tf.where(step < warm, warm_lr, cos_lr)

        def get_config(self) -> dict[str, Any]:
            return {}

    return WarmCosine()


def _optimizer(lr: Any, weight_decay: float) -> Any:
    keras = _keras()
    opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay)
    opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return opt


def _batches(x: np.ndarray, y: np.ndarray, batch: int, seed: int) -> tuple[Any, int]:
    """An endless stream of shuffled full batches (a new permutation per epoch) and the steps per epoch.

    One dataset for the whole fit: a finite dataset re-created its iterator and ran a short last batch
    at every epoch end, which cost ~25 s per epoch here.
    """
    import tensorflow as tf

    batch = min(batch, len(x))
    steps = len(x) // batch
    faces, labels = tf.constant(x), tf.constant(np.eye(7, dtype=np.float32)[y])

    def epoch(_: Any) -> Any:
        perm = tf.random.shuffle(tf.range(len(x)), seed=seed)
        return tf.data.Dataset.from_tensor_slices(tf.reshape(perm[: steps * batch], [steps, batch]))

    ds = tf.data.Dataset.range(1).repeat().flat_map(epoch)
    return ds.map(lambda idx: (tf.gather(faces, idx), tf.gather(labels, idx))), steps


def _as_float32(model: Any, widths: tuple[tuple[int, ...], ...], folded: bool = False) -> Any:
    """The same network built under the float32 policy with the trained weights (the variables are float32
    under mixed bfloat16 too): what the TFLite export needs."""
    keras = _keras()
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        out = build_model(widths, folded=folded)
        out.set_weights(model.get_weights())
    finally:
        keras.mixed_precision.set_global_policy(policy)
    return out


class _TimeCosine:
    """Warm-up over the first epoch, then a cosine from `peak` to 0 over the wall-clock budget; stops
    training when the budget is spent (mid-epoch if need be: the learning rate is ~0 by then)."""

    def __init__(self, peak: float, warm_steps: int, budget_s: float) -> None:
        self.peak, self.warm_steps, self.budget_s = peak, max(1, warm_steps), budget_s
        self.steps = 0
        self.epochs = 0.0
        self._steps_per_epoch = max(1, warm_steps)

    def lr(self, elapsed_s: float) -> float:
        if self.steps < self.warm_steps:
            return self.peak * (self.steps + 1) / self.warm_steps
        return 0.5 * self.peak * (1 + math.cos(math.pi * min(1.0, elapsed_s / self.budget_s)))

    def callback(self) -> Any:
        keras = _keras()
        outer = self

        class Clock(keras.callbacks.Callback):
            def on_train_begin(self, logs: Any = None) -> None:
                self._t0 = time.monotonic()

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                elapsed = time.monotonic() - self._t0
                self.model.optimizer.learning_rate.assign(outer.lr(elapsed))
                if elapsed >= outer.budget_s:
                    self.model.stop_training = True

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                outer.steps += 1
                outer.epochs = outer.steps / outer._steps_per_epoch

        return Clock()


@dataclass
class TrainData:
    """The checked splits and the augmented training stream both stages train on."""

    x: np.ndarray
    val: tuple[np.ndarray, np.ndarray]
    ds: Any
    steps: int
    info: dict[str, Any]


def prepare_data(train_npz: Path, val_npz: Path, cfg: EmotionTrainConfig) -> TrainData:
    """Load both splits, refuse a blurred training split, and build the augmented batch stream."""
    x, y, train_sha = load_fer(train_npz, limit=cfg.limit)
    vx, vy, val_sha = load_fer(val_npz, limit=None if cfg.limit is None else max(64, cfg.limit // 4))
    st, sv = check_sharpness(x, vx, train_npz, val_npz, cfg.min_sharpness_ratio)

    import tensorflow as tf

    tf.random.set_seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.bf16:
        _keras().mixed_precision.set_global_policy("mixed_bfloat16")
    ds, steps = _batches(x, y, cfg.batch, cfg.seed)
    ds = ds.map(_augment_fn(cfg.seed, cfg.erase_p), num_parallel_calls=2)
    info = {"train_sha256": train_sha, "val_sha256": val_sha, "train_images": int(len(x)),
            "sharpness": {"train": round(st, 1), "val": round(sv, 1)}}
    return TrainData(x, (vx[..., None].astype(np.float32), vy), ds, steps, info)


def train_float(data: TrainData, cfg: EmotionTrainConfig) -> tuple[Any, dict[str, Any]]:
    """Train the float network; returns it under the float32 policy (for export) and what was run."""
    keras = _keras()
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
    verbose = 1 if sys.stderr.isatty() else 0
    model = build_model(cfg.widths)
    logger.info("emotion: %d parameters (widths %s), %d training faces, %s", model.count_params(),
                widths_spec(cfg.widths), data.info["train_images"],
                f"{cfg.minutes:g} minutes of epochs" if cfg.minutes else f"{cfg.epochs} epochs")
    ds = data.ds.prefetch(2)
    t0 = time.monotonic()
    if cfg.minutes:
        # The schedule follows the clock, not the step count: on a shared machine the number of epochs
        # that fit is not known in advance, and a cosine cut short would end at a high learning rate.
        clock = _TimeCosine(cfg.lr, data.steps, cfg.minutes * 60.0)
        model.compile(_optimizer(cfg.lr, cfg.weight_decay), loss, metrics=["accuracy"])
        model.fit(ds, epochs=10_000, steps_per_epoch=data.steps, verbose=verbose,
                  callbacks=[clock.callback(), *_progress_callbacks("train", 0, data.val, cfg.log_every or 4)])
        epochs_run = clock.epochs
    else:
        model.compile(_optimizer(_cosine(cfg.lr, cfg.epochs, data.steps), cfg.weight_decay), loss,
                      metrics=["accuracy"])
        model.fit(ds, epochs=cfg.epochs, steps_per_epoch=data.steps, verbose=verbose,
                  callbacks=_progress_callbacks("train", cfg.epochs, data.val,
                                                cfg.log_every or max(1, cfg.epochs // 10)))
        epochs_run = float(cfg.epochs)
    train_s = time.monotonic() - t0
    return _as_float32(model, cfg.widths), {"epochs": round(epochs_run, 2), "seconds": {
        "train": round(train_s), "per_epoch": round(train_s / max(1e-9, epochs_run), 1)}}


def sparsity(model: Any) -> float:
    """Share of zero weights over all convolution and dense kernels (what pruning acts on)."""
    zeros = total = 0
    for layer in model.layers:
        for w in layer.weights:
            if "kernel" in w.name:
                arr = w.numpy()
                zeros += int((arr == 0).sum())
                total += arr.size
    return zeros / max(1, total)
