"""Median invoke time of TFLite models, interleaved so that a busy machine shifts all alike."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def median_invoke_ms(models: dict[str, Path], threads: int, rounds: int = 30, warmup: int = 5) -> dict[str, float]:
    """Interleave the models round by round; return the median invoke time of each in ms."""
    from edge.analysis.inference import load_interpreter

    interps = {}
    for name, path in models.items():
        interp = load_interpreter(path, threads=threads)
        inp = interp.get_input_details()[0]
        rng = np.random.default_rng(0)
        if inp["dtype"] == np.float32:
            x = rng.uniform(0, 255, inp["shape"]).astype(np.float32)
        else:
            info = np.iinfo(inp["dtype"])
            x = rng.integers(info.min, info.max + 1, inp["shape"]).astype(inp["dtype"])
        interp.set_tensor(inp["index"], x)
        for _ in range(warmup):
            interp.invoke()
        interps[name] = interp
    times: dict[str, list[float]] = {n: [] for n in models}
    for _ in range(rounds):
        for name, interp in interps.items():
            t0 = time.perf_counter()
            interp.invoke()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {n: float(np.median(t)) for n, t in times.items()}
