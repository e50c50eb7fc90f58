"""Train, prune and quantize the emotion model on FER2013 (`python -m tools.quantize emotion`).

Why this design: faces are 48×48 grey crops, so a small residual CNN with separable convolutions
(~195k weights) fits the Pi, and int8 keeps it under 300 KB. Accuracy comes from augmentation
(flip, small affine, light/contrast, erasing), label smoothing and a cosine schedule, then
magnitude pruning to ≥50% sparsity with fine-tuning, and finally full-integer quantization with a
calibration set drawn from the training images. A horizontal-flip average is folded into the
exported graph (batch of two inside one invoke), which costs one extra pass of a 1 ms model.
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

import numpy as np

from tools.quantize.fer import load_fer

logger = logging.getLogger(__name__)

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tensorflow-model-optimization needs Keras 2


@dataclass
class EmotionTrainConfig:
    epochs: int = 40
    prune_epochs: int = 10
    batch: int = 64
    lr: float = 2e-3
    sparsity: float = 0.55
    label_smoothing: float = 0.1
    limit: int | None = None  # train on a subset (tests)
    seed: int = 1234
    flip_tta: bool = True


def _keras() -> Any:
    import tf_keras as keras

    return keras


def build_model(width: int = 32) -> Any:
    """Input: 48×48×1 float pixels 0..255 (the device feeds uint8 grey). Output: 7 softmax scores."""
    keras = _keras()
    L = keras.layers

    def conv_bn(x: Any, c: int) -> Any:
        x = L.Conv2D(c, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        return L.ReLU()(x)

    def residual(x: Any, c: int) -> Any:
        shortcut = L.Conv2D(c, 1, strides=2, padding="same", use_bias=False)(x)
        shortcut = L.BatchNormalization()(shortcut)
        x = L.SeparableConv2D(c, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
        x = L.SeparableConv2D(c, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        return L.ReLU()(L.Add()([x, shortcut]))

    inp = L.Input((48, 48, 1), name="face")
    x = L.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = conv_bn(x, width)
    x = conv_bn(x, width)
    for c in (2 * width, 4 * width, 8 * width):
        x = residual(x, c)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.3)(x)
    out = L.Dense(7, activation="softmax", name="emotion")(x)
    return keras.Model(inp, out, name="ppt_emotion")


def _augment_fn(seed: int) -> Any:
    import tensorflow as tf

    keras = _keras()
    L = keras.layers
    geo = keras.Sequential([
        L.RandomFlip("horizontal", seed=seed),
        L.RandomRotation(0.05, fill_mode="reflect", seed=seed + 1),  # ±18°
        L.RandomZoom((-0.15, 0.15), fill_mode="reflect", seed=seed + 2),
        L.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3),
    ])

    def augment(x: Any, y: Any) -> tuple[Any, Any]:
        x = geo(x, training=True)
        b = tf.shape(x)[0]
        # light and contrast jitter, per image
        gain = tf.random.uniform([b, 1, 1, 1], 0.7, 1.3)
        bias = tf.random.uniform([b, 1, 1, 1], -25.0, 25.0)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * gain + mean + bias
        # random erasing: one box of up to a quarter of the face in half the images
        cy = tf.random.uniform([b, 1, 1, 1], 0, 48)
        cx = tf.random.uniform([b, 1, 1, 1], 0, 48)
        half = tf.random.uniform([b, 1, 1, 1], 4, 12)
        yy = tf.reshape(tf.range(48, dtype=tf.float32), [1, 48, 1, 1])
        xx = tf.reshape(tf.range(48, dtype=tf.float32), [1, 1, 48, 1])
        box = tf.logical_and(tf.abs(yy - cy) < half, tf.abs(xx - cx) < half)
        on = tf.random.uniform([b, 1, 1, 1]) < 0.5
        x = tf.where(tf.logical_and(box, on), tf.random.uniform([b, 1, 1, 1], 0, 255), x)
        return tf.clip_by_value(x, 0.0, 255.0), y

    return augment


def _datasets(x: np.ndarray, y: np.ndarray, cfg: EmotionTrainConfig) -> Any:
    import tensorflow as tf

    xs = x[..., None].astype(np.float32)
    ys = np.eye(7, dtype=np.float32)[y]
    ds = tf.data.Dataset.from_tensor_slices((xs, ys)).shuffle(len(xs), seed=cfg.seed, reshuffle_each_iteration=True)
    return ds.batch(cfg.batch).map(_augment_fn(cfg.seed), num_parallel_calls=2).prefetch(2)


def _progress_callbacks(stage: str, epochs: int) -> list[Any]:
    keras = _keras()

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._t = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            logger.info("%s epoch %d/%d  loss=%.4f acc=%.4f val_acc=%s  %.0f s", stage, epoch + 1, epochs,
                        logs.get("loss", float("nan")), logs.get("accuracy", float("nan")),
                        f"{logs['val_accuracy']:.4f}" if "val_accuracy" in logs else "-",
                        time.monotonic() - self._t)

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


def train_prune(train_npz: Path, val_npz: Path, cfg: EmotionTrainConfig) -> tuple[Any, Any, dict[str, Any]]:
    """Train the float model, then prune it with fine-tuning. Returns (float, pruned, info)."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    keras = _keras()
    tf.random.set_seed(cfg.seed)
    np.random.seed(cfg.seed)
    x, y, train_sha = load_fer(train_npz, limit=cfg.limit)
    vx, vy, val_sha = load_fer(val_npz, limit=None if cfg.limit is None else max(64, cfg.limit // 4))
    val = (vx[..., None].astype(np.float32), np.eye(7, dtype=np.float32)[vy])
    ds = _datasets(x, y, cfg)
    steps = math.ceil(len(x) / cfg.batch)
    verbose = 1 if sys.stderr.isatty() else 2
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)

    model = build_model()
    logger.info("emotion: %d parameters, %d training images, %d epochs + %d pruning epochs",
                model.count_params(), len(x), cfg.epochs, cfg.prune_epochs)
    model.compile(keras.optimizers.Adam(_cosine(cfg.lr, cfg.epochs, steps)), loss, metrics=["accuracy"])
    model.fit(ds, epochs=cfg.epochs, validation_data=val, validation_freq=max(1, cfg.epochs // 8),
              verbose=verbose, callbacks=_progress_callbacks("train", cfg.epochs))
    float_model = keras.models.clone_model(model)
    float_model.set_weights(model.get_weights())

    # Magnitude pruning with fine-tuning: sparsity ramps up over 60% of the stage, then holds.
    prune_steps = max(1, cfg.prune_epochs * steps)
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=cfg.sparsity, begin_step=0,
        end_step=max(1, int(prune_steps * 0.6)), frequency=max(1, steps // 4))

    def prunable(layer: Any) -> Any:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.Dense)):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    pruned = keras.models.clone_model(model, clone_function=prunable)
    _copy_weights(model, pruned)
    pruned.compile(keras.optimizers.Adam(_cosine(cfg.lr * 0.15, max(1, cfg.prune_epochs), steps, 0.2)), loss,
                   metrics=["accuracy"])
    pruned.fit(ds, epochs=max(1, cfg.prune_epochs), validation_data=val, verbose=verbose,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep(),
                          *_progress_callbacks("prune", max(1, cfg.prune_epochs))])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    info = {"train_sha256": train_sha, "val_sha256": val_sha, "train_images": int(len(x)),
            "parameters": int(stripped.count_params()), "sparsity": sparsity(stripped)}
    logger.info("emotion: pruned to %.1f%% sparsity of prunable weights", 100 * info["sparsity"])
    return float_model, stripped, info


def _copy_weights(src: Any, dst: Any) -> None:
    """Copy weights layer by layer into a clone whose prunable layers are wrapped."""
    for s, d in zip(src.layers, dst.layers, strict=True):
        target = getattr(d, "layer", d)
        target.set_weights(s.get_weights())


def sparsity(model: Any) -> float:
    """Share of zero weights over the kernels that pruning acts on (conv, separable, dense)."""
    zeros = total = 0
    for layer in model.layers:
        for w in layer.weights:
            name = w.name
            if "kernel" in name and "batch_norm" not in name:
                arr = w.numpy()
                zeros += int((arr == 0).sum())
                total += arr.size
    return zeros / max(1, total)


def export_function(model: Any, flip_tta: bool) -> Any:
    """A concrete function with a fixed 1×48×48×1 float input (0..255) and a 1×7 probability output."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 48, 48, 1], tf.float32, name="face")])
    def serve(face: Any) -> Any:
        if not flip_tta:
            return model(face, training=False)
        both = tf.concat([face, tf.reverse(face, axis=[2])], axis=0)
        return tf.reduce_mean(model(both, training=False), axis=0, keepdims=True)

    return serve.get_concrete_function()


def to_tflite(model: Any, *, flip_tta: bool, int8_calib: np.ndarray | None = None) -> bytes:
    """Float32 TFLite, or full-integer int8 (uint8 input, float32 output) when a calibration set is given."""
    import tensorflow as tf

    fn = export_function(model, flip_tta)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    if int8_calib is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.float32
        calib = int8_calib[..., None].astype(np.float32)

        def rep() -> Any:
            for img in calib:
                yield [img[None]]

        conv.representative_dataset = rep
    return conv.convert()


def calibration_faces(x: np.ndarray, n: int = 500, seed: int = 7) -> np.ndarray:
    """A class-mixed calibration set from the training split, plus its mirror images."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(n, len(x)), replace=False)
    faces = x[idx]
    return np.concatenate([faces, faces[: len(faces) // 4, :, ::-1]])
