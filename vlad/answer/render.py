"""Pictures of results: heat-map overlays of anomaly maps on their images."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# Matplotlib's warning for a character its fonts lack ("Glyph 20013 (...) missing from
# font(s) DejaVu Sans.").
_MISSING_GLYPH = r"Glyph \d+ .*missing from font"


def heat_map_overlay(
    image: Image.Image,
    anomaly_map: np.ndarray,
    *,
    alpha: float = 0.5,
    value_range: tuple[float, float] = (0.0, 1.0),
    colormap: str = "jet",
) -> Image.Image:
    """Blend a colour-mapped anomaly map over its image.

    The colour scale is fixed (``value_range``), not stretched per image, so that a normal
    image stays cool and two overlays can be compared by eye.

    Args:
        image: The RGB image the map belongs to.
        anomaly_map: (H, W) scores at the image's size; numpy is (H, W), PIL is (W, H).
        alpha: Weight of the heat map in the blend.
        value_range: Scores mapped to the two ends of the colour map.
        colormap: A matplotlib colour map name.

    Returns:
        An RGB image of the image's size.

    Raises:
        ValueError: When the map's shape is not the image's (height, width).
    """
    from matplotlib import colormaps

    width, height = image.size
    if anomaly_map.shape != (height, width):
        raise ValueError(
            f"Map shape {anomaly_map.shape} does not match the image's (height, width) "
            f"({height}, {width})."
        )
    low, high = value_range
    scaled = np.clip((anomaly_map.astype(np.float64) - low) / max(high - low, 1e-12), 0.0, 1.0)
    colours = colormaps[colormap](scaled)[..., :3]
    base = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    blended = (1.0 - alpha) * base + alpha * colours
    return Image.fromarray(np.round(blended * 255.0).astype(np.uint8))


def write_map_files(
    folder: Path, stem: str, image: Image.Image, anomaly_map: np.ndarray
) -> tuple[Path, Path]:
    """Write ``STEM.npy`` (float32 map) and ``STEM_overlay.png`` into a folder.

    Both are written to temporary names first and renamed, so that a stopped run never
    leaves a half-written file under the final name.

    Args:
        folder: Output folder (created if missing).
        stem: File name stem.
        image: The image the map belongs to.
        anomaly_map: (H, W) map.

    Returns:
        The paths of the .npy and the .png files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    npy_path = folder / f"{stem}.npy"
    png_path = folder / f"{stem}_overlay.png"
    tmp_npy = folder / f".{stem}.npy.part"
    tmp_png = folder / f".{stem}_overlay.png.part"
    with tmp_npy.open("wb") as handle:
        np.save(handle, anomaly_map.astype(np.float32))
    heat_map_overlay(image, anomaly_map).save(tmp_png, format="PNG")
    tmp_npy.replace(npy_path)
    tmp_png.replace(png_path)
    return npy_path, png_path


def write_overlay(folder: Path, stem: str, image: Image.Image, anomaly_map: np.ndarray) -> Path:
    """Write ``STEM.png``, the heat-map overlay of a map on its image, atomically.

    Args:
        folder: Output folder (created if missing).
        stem: File name stem.
        image: The image the map belongs to.
        anomaly_map: (H, W) map.

    Returns:
        The path of the PNG.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.png"
    tmp = folder / f".{stem}.png.part"
    heat_map_overlay(image, anomaly_map).save(tmp, format="PNG")
    tmp.replace(path)
    return path


def plot_timeline(result: Any, path: Path, *, title: str | None = None) -> Path:
    """Plot a video's score timeline: one curve per definition, intervals shaded.

    Args:
        result: A video's :class:`~vlad.answer.explanation.Explanation` (its detections
            are shaded) or a :class:`vlad.pipeline.video.VideoResult`.
        path: Where to write the figure (PNG, SVG or PDF by suffix).
        title: Figure title (default: the video's file name).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)

    texts = [str(result.input), title or ""]
    texts += [track.definition or "" for track in result.tracks]
    texts += [interval.definition or "" for interval in result.intervals]
    family = fallback_font(texts)
    fonts = {"font.family": [*matplotlib.rcParams["font.family"], family]} if family else {}
    with matplotlib.rc_context(fonts), warnings.catch_warnings():
        # A glyph no installed font has is drawn as a box; say nothing ten times about it.
        warnings.filterwarnings("ignore", message=_MISSING_GLYPH, category=UserWarning)
        return _plot_timeline(result, path, title=title)


def fallback_font(texts: Iterable[str]) -> str | None:
    """An installed font with the glyphs the default font lacks, for definitions in any script.

    Matplotlib draws with its default font (DejaVu Sans), which has Latin, Greek and
    Cyrillic but not, say, Chinese. When some character of ``texts`` is missing from it,
    the installed font (matplotlib's font list) that has the most of the missing ones is
    returned; the plot then falls back to it glyph by glyph. Matplotlib's "Last Resort"
    font (boxes for everything) is never chosen.

    Args:
        texts: The texts the figure will show.

    Returns:
        The font's family name, or None when the default font has every character or no
        installed font has any of the missing ones.
    """
    from matplotlib import font_manager

    wanted = {ord(c) for text in texts for c in text if c.isprintable() and not c.isspace()}
    if not wanted:
        return None
    missing = wanted - _charmap(font_manager.findfont(font_manager.FontProperties()))
    if not missing:
        return None
    best: str | None = None
    best_key = (0, False)
    for entry in sorted(font_manager.fontManager.ttflist, key=lambda f: (f.name, f.fname)):
        if entry.name.startswith("Last Resort"):
            continue
        regular = entry.style == "normal" and entry.weight in (400, "normal", "regular")
        key = (len(missing & _charmap(entry.fname)), regular)
        if key > best_key:
            best, best_key = entry.name, key
    return best


@functools.lru_cache(maxsize=512)
def _charmap(path: str) -> frozenset[int]:
    """The code points a font file has glyphs for (empty when it cannot be read)."""
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(path).get_charmap())
    except Exception:  # a damaged or unsupported font file: it has nothing to offer
        return frozenset()


def _plot_timeline(result: Any, path: Path, *, title: str | None) -> Path:
    import matplotlib
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    palette = matplotlib.colormaps["tab10"]
    colours = {track.definition: palette(k % 10) for k, track in enumerate(result.tracks)}
    for track in result.tracks:
        axes.plot(
            track.times_s,
            track.values,
            lw=1.6,
            color=colours[track.definition],
            label=_shorten(track.definition or "score"),
        )
    detections = getattr(result, "detections", ())
    shaded = [d.interval for d in detections] if detections else list(result.intervals)
    for number, interval in enumerate(shaded):
        colour = colours.get(interval.definition, "red")
        axes.axvspan(interval.start_s, interval.end_s, color=colour, alpha=0.15, lw=0)
        axes.annotate(
            f"{_shorten(interval.definition or '', 28)}\npeak {interval.peak_score:.2f}",
            # stagger the labels so that overlapping intervals stay readable
            xy=((interval.start_s + interval.end_s) / 2, 1.0 - 0.09 * (number % 3)),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=7.5,
            color="black",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "alpha": 0.85},
        )
    axes.axhline(
        result.threshold, color="0.3", ls="--", lw=1, label=f"threshold {result.threshold:.2f}"
    )
    axes.axhline(
        result.low_threshold,
        color="0.6",
        ls=":",
        lw=1,
        label=f"keep-open {result.low_threshold:.2f}",
    )
    info = getattr(result, "info", None)
    duration = max(float(info.duration_s if info is not None else result.duration_s), 1e-6)
    axes.set_xlim(0, duration)
    axes.set_ylim(0, 1.08)
    axes.set_xlabel("time")
    axes.set_ylabel("anomaly score")
    axes.xaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda value, _pos: _tick_clock(value))
    )
    axes.grid(alpha=0.25)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    found = (
        f"{len(result.intervals)} anomalous interval(s)" if result.intervals else "no anomaly found"
    )
    axes.set_title(title or f"{Path(str(result.input)).name}: {found}", fontsize=10, loc="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    figure.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    tmp.replace(path)
    return path


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tick_clock(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{int(rest):02d}"
