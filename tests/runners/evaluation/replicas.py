"""Tiny benchmark replicas with real pixels, for the image and video evaluation runners.

The layouts and annotation files come from the readers' own fixture builders
(``tests/data``); only the empty placeholder images are replaced by textured pictures
(images with a dark defect square, its mask; frames of a moving square) that the tiny
CLIP can score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import make_image
from tests.data.test_mvtec import make_mvtec
from tests.data.test_ucsd import make_ped2
from tests.videos import moving_square_frames, write_frame_folder
from vlad.data.manifest import write_manifest
from vlad.data.mvtec import read_mvtec
from vlad.data.ucsd import read_ped2

HEIGHT, WIDTH = 48, 64
"""Size of every replica image and frame (numpy order)."""

PED2_FRAMES = {"training/frames/01": 4, "training/frames/02": 5, "testing/frames/01": 8,
               "testing/frames/02": 6, "testing/frames/03": 10}  # fmt: skip
"""The frame folders make_ped2 lays out, with their frame counts."""


def defect_mask(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """The 0/255 mask of make_image's defect (the lower-right square)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height * 2 // 3 :, width * 2 // 3 :] = 255
    return mask


def mvtec_replica(root: Path) -> Path:
    """MVTec AD's layout (bottle: 2 broken + 1 good test image; screw: 1 good) with pixels."""
    make_mvtec(root)
    for seed, image in enumerate(sorted(root.rglob("*.png"))):
        if image.parent.parent.name == "ground_truth":
            Image.fromarray(defect_mask()).save(image)
        else:
            defect = image.parent.name == "broken_large"
            make_image(HEIGHT, WIDTH, seed=seed, defect=defect).save(image)
    return root


def mvtec_manifest(root: Path, manifest: Path) -> Path:
    """The replica's manifest, as ``vlad data prepare mvtec`` writes it."""
    return write_manifest(manifest, read_mvtec(mvtec_replica(root)))


def ped2_replica(root: Path) -> Path:
    """UCSD Ped2's layout and ``ped2.mat`` (make_ped2) with frames of a moving square."""
    make_ped2(root)
    for seed, (folder, count) in enumerate(PED2_FRAMES.items()):
        write_frame_folder(root / folder, moving_square_frames(count, HEIGHT, WIDTH, seed=seed))
    return root


def ped2_manifest(root: Path, manifest: Path) -> Path:
    """The replica's manifest, as ``vlad data prepare ped2`` writes it."""
    return write_manifest(manifest, read_ped2(ped2_replica(root)))
