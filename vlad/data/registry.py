"""The benchmarks vlad reads: name -> reader, where to get the data, its licence, its layout.

vlad never downloads a benchmark: :func:`prepare` reads one that a person downloaded (from
the place :class:`Benchmark` names, under its licence) into manifest records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlad.data import (
    anomalyruler,
    mvtec,
    shanghaitech,
    ubnormal,
    ucf_crime,
    ucsd,
    visa,
    xd_violence,
)
from vlad.data.manifest import ManifestRecord
from vlad.errors import ConfigError

Reader = Callable[..., list[ManifestRecord]]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark vlad can read.

    Attributes:
        name: The registry name (``vlad data prepare NAME``).
        title: The benchmark's own name.
        reader: ``reader(root, **options) -> records``.
        url: Where to get it.
        licence: Its licence or terms of use, as its publishers state them.
        layout: The layout the reader expects under the root, in one line.
        options: The keyword options the reader takes (``categories``, ``dataset`` ...).
    """

    name: str
    title: str
    reader: Reader
    url: str
    licence: str
    layout: str
    options: tuple[str, ...] = ()


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "mvtec",
            "MVTec AD",
            mvtec.read_mvtec,
            "https://www.mvtec.com/company/research/datasets/mvtec-ad",
            "CC BY-NC-SA 4.0 (non-commercial)",
            "CATEGORY/train/good/*.png, CATEGORY/test/DEFECT/*.png, "
            "CATEGORY/ground_truth/DEFECT/*_mask.png",
            ("categories",),
        ),
        Benchmark(
            "visa",
            "VisA",
            visa.read_visa,
            "https://github.com/amazon-science/spot-diff",
            "CC BY 4.0",
            "OBJECT/Data/Images/{Normal,Anomaly}/*.JPG, OBJECT/Data/Masks/Anomaly/*.png, "
            "split_csv/1cls.csv (object,split,label,image,mask)",
            ("categories", "split_file"),
        ),
        Benchmark(
            "ped2",
            "UCSD Ped2",
            ucsd.read_ped2,
            "http://www.svcl.ucsd.edu/projects/anomaly/dataset.htm (frame folders and ped2.mat "
            "as converted by the future-frame-prediction code, github.com/StevenLiuWen/"
            "ano_pred_cvpr2018)",
            "research use; no licence stated by the publishers",
            "training/frames/NN/*.jpg, testing/frames/NN/*.jpg, ped2.mat (gt: 2xK [first; last] "
            "per test video, 1-based)",
        ),
        Benchmark(
            "avenue",
            "CUHK Avenue",
            ucsd.read_avenue,
            "http://www.cse.cuhk.edu.hk/leojia/projects/detectabnormal/dataset.html (frame "
            "folders and avenue.mat as converted by github.com/StevenLiuWen/ano_pred_cvpr2018)",
            "research use; no licence stated by the publishers",
            "training/frames/NN/*.jpg, testing/frames/NN/*.jpg, avenue.mat (gt as for ped2)",
        ),
        Benchmark(
            "shanghaitech",
            "ShanghaiTech Campus",
            shanghaitech.read_shanghaitech,
            "https://svip-lab.github.io/dataset/campus_dataset.html",
            "research use; no licence stated by the publishers",
            "training/videos/*.avi, testing/frames/SS_NNNN/*.jpg, "
            "testing/test_frame_mask/SS_NNNN.npy",
        ),
        Benchmark(
            "ubnormal",
            "UBnormal",
            ubnormal.read_ubnormal,
            "https://github.com/lilygeorgescu/UBnormal (split lists in its scripts/ folder)",
            "CC BY-NC-ND 4.0",
            "SceneN/{abnormal,normal}_scene_N_scenario_M.mp4, "
            "SceneN/VIDEO_annotations/VIDEO_tracks.txt, scripts/*_video_names.txt",
            ("split_dir",),
        ),
        Benchmark(
            "ucf_crime",
            "UCF-Crime",
            ucf_crime.read_ucf_crime,
            "https://www.crcv.ucf.edu/projects/real-world/",
            "research use; no licence stated by the publishers",
            "the videos anywhere under ROOT, Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
        ),
        Benchmark(
            "xd_violence",
            "XD-Violence",
            xd_violence.read_xd_violence,
            "https://roc-ng.github.io/XD-Violence/",
            "research use; see the project page",
            "annotations.txt, videos NAME_label_CODES.mp4 under ROOT (train*/ folders: training)",
        ),
        Benchmark(
            "anomalyruler",
            "AnomalyRuler frame captions",
            anomalyruler.read_anomalyruler,
            "https://github.com/Yuchen413/AnomalyRuler",
            "MIT",
            "DATASET/test_frame/*.csv (image_path,label), DATASET/test_frame_description/*.txt",
            ("dataset",),
        ),
    )
}


def benchmark(name: str) -> Benchmark:
    """The benchmark registered as ``name``.

    Raises:
        ConfigError: No benchmark has that name (``param="name"``).
    """
    if name not in BENCHMARKS:
        raise ConfigError(
            f"name {name!r} is not a benchmark vlad reads; known: {', '.join(BENCHMARKS)}.",
            param="name",
        )
    return BENCHMARKS[name]


def prepare(name: str, root: str | Path, **options: Any) -> list[ManifestRecord]:
    """Read a downloaded benchmark into manifest records.

    Args:
        name: A registry name (see :data:`BENCHMARKS`).
        root: The benchmark's folder.
        **options: The reader's options; ``None`` values are left out.

    Returns:
        The records, in the reader's order.

    Raises:
        ConfigError: Unknown name, or an option the benchmark does not take.
        InputError: The layout is incomplete or malformed (one sentence saying what).
    """
    entry = benchmark(name)
    given = {key: value for key, value in options.items() if value is not None}
    for key in given:
        if key not in entry.options:
            takes = ", ".join(entry.options) or "no options"
            raise ConfigError(
                f"{key} does not apply to {entry.title}, which takes {takes}.", param=key
            )
    return entry.reader(root, **given)


def names() -> Sequence[str]:
    """The registered names, in table order."""
    return tuple(BENCHMARKS)
