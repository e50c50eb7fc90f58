"""Source files for the model builds: checked by sha256 before anything is built from them."""

from __future__ import annotations

import hashlib
from pathlib import Path


class SourceError(ValueError):
    """A source file is missing, is not what it claims to be, or has the wrong shape or hash."""


# sha256 of the float sources and data sets the models are built from (see ../shared/SOURCES.md).
KNOWN_SHA256 = {
    "movenet-lightning.json": "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
    "movenet-lightning.bin": "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34",
    "movenet-thunder.json": "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
    "movenet-thunder.bin": "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c",
    "emotion.json": "56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2",
    "emotion.bin": "927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987",
    "train.npz": "39fc09c5b99e543d8555b657d97b53823c19b459ab9047b2368344787ea72407",
    "public_test.npz": "5456877e02e81a90c8944724ae8f182bd6da6b84bff0656d835925cf6a02366b",
    "face_landmark.tflite": "c603fa6149219a3e9487dc9abd7a0c24474c77263273d24868378cdf40aa26d1",
    "iris_landmark.tflite": "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
    "lite-model_movenet_singlepose_lightning_tflite_int8_4.tflite":
        "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105",
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_source(path: Path, expected: str | None = None, *, subset_ok: bool = False) -> str:
    """Return the file's sha256; raise SourceError naming the file when it is missing or differs.

    A file whose name is in KNOWN_SHA256 must match it unless `expected` says otherwise. A data set
    that is a deliberate subset (tests) passes `subset_ok=True`: its hash is recorded, not checked.
    """
    if not path.is_file():
        raise SourceError(f"{path}: source file not found")
    digest = sha256_file(path)
    want = expected or (None if subset_ok else KNOWN_SHA256.get(path.name))
    if want is not None and digest != want:
        raise SourceError(f"{path}: sha256 {digest} does not match the expected {want}; "
                          "use the unchanged file listed in shared/SOURCES.md")
    return digest
