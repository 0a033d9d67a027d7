"""Write the small synthetic samples in ``datasets/samples`` (committed; run again to check).

Everything here is drawn from fixed seeds, so a second run writes the same pixels:

- ``plates/good_1.png``, ``good_2.png``, ``scratch.png``, ``dent.png``: brushed-metal
  plates, 256x256, two without defects and two with one, for
  ``vlad detect datasets/samples/plates --class-name "metal plate"`` (a folder of their own,
  so that the folder holds images of one class only).
- ``walkway.mp4``: 8 s at 10 fps, 320x240 H.264, a cartoon campus walkway where people
  walk slowly; from 4.0 s to 6.5 s a cyclist crosses much faster (the "unusual" event).
- ``frames/000.jpg ... 019.jpg``: 2 s of the same scene as a frame folder (read it with
  ``--frames-fps 10``); the cyclist enters at frame 10.
- ``normal-captions.txt``: one caption of normal walkway activity per line, the normal
  references of ``vlad rules induce``.
- ``walkway-rules.txt``: a rule set in the AnomalyRuler text format, for
  ``vlad rules import``.
- ``captions/walkway/``: a two-video caption benchmark in the AnomalyRuler layout
  (``test_frame/*.csv`` labels, ``test_frame_description/*.txt`` captions, ``rules.txt``)
  for ``vlad eval captions --root datasets/samples/captions --dataset walkway``; its first
  video is the frame folder above.

Run with the repository's environment: ``.venv/bin/python datasets/make_samples.py``
(needs numpy, Pillow and PyAV, all dependencies of vlad).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 256
OUT = Path(__file__).parent / "samples"

VIDEO_NAME = "walkway.mp4"
VIDEO_FPS = 10
VIDEO_SECONDS = 8
VIDEO_WIDTH, VIDEO_HEIGHT = 320, 240
CYCLIST_START_S, CYCLIST_END_S = 4.0, 6.5

PLATES_DIR = "plates"
FRAMES_DIR = "frames"
FRAMES_COUNT = 20
FRAMES_CYCLIST_FROM = 10

NORMAL_CAPTIONS = (
    "a person walking along the campus walkway",
    "two students walking side by side on the path",
    "a woman carrying a backpack walks past the lawn",
    "a man walking towards the building entrance",
    "people walking in both directions on the walkway",
    "a student standing on the path looking at a phone",
    "a person walking slowly with a book in hand",
    "two people talking while they walk on the pathway",
    "a man with a shoulder bag walking on the sidewalk",
    "a group of three people walking across the campus",
    "a person walking past the trees beside the path",
    "a woman walking away from the building",
    "a student walking alone on the walkway",
    "a person standing near the lamp post",
    "people walking on the paved path between the lawns",
    "a man walking with a coffee cup",
    "a person waiting at the edge of the walkway",
    "two students walking towards the library",
    "a woman walking with an umbrella",
    "a person walking at an ordinary pace on the path",
    "a man carrying a laptop bag walks along the walkway",
    "people crossing the walkway on foot",
    "a student sitting on a bench beside the path",
    "a person walking past the fence",
    "an empty walkway with trees and a building behind it",
    "a woman walking with a friend on the path",
    "a man walking while talking on the phone",
    "a person walking out of the building onto the walkway",
    "two people standing and chatting at the side of the path",
    "a student walking with headphones on",
)

RULES_TEXT = """\
**Anomaly Human Activities:**
1. Riding a bicycle, scooter or skateboard on the walkway
2. Running or moving much faster than the people walking
3. Climbing the fence or a tree
4. Fighting or pushing another person
5. Lying on the ground

**Anomaly Non-Human Objects:**
1. A car, van or truck on the walkway
2. A bicycle or motorcycle on the path
3. A bag or object left alone on the path

**Rules for Normal Human Activities:**
1. Walking alone or with other people
2. Standing, talking or using a phone
3. Sitting on a bench
4. Carrying a bag, a book or a cup

**Rules for Normal Non-Human Objects:**
1. Trees, lawns and lamp posts
2. Buildings, benches and fences
3. The paved walkway
"""


# -- images --------------------------------------------------------------------------------


def plate(seed: int) -> Image.Image:
    """A grey brushed-metal texture with soft lighting."""
    rng = np.random.default_rng(seed)
    streaks = rng.normal(0, 1, size=(SIZE, 1)) * 10 + rng.normal(0, 3, size=(SIZE, SIZE))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    light = 150 + 35 * np.cos((xx - SIZE * 0.3) / SIZE * 2.2) * np.cos((yy - SIZE * 0.6) / SIZE)
    gray = np.clip(light + streaks, 0, 255)
    rgb = np.stack([gray, gray * 0.98, gray * 0.95], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(0.6))


def write_plates(out: Path) -> None:
    """The four metal-plate images."""
    plate(1).save(out / "good_1.png")
    plate(2).save(out / "good_2.png")
    scratch = plate(3)
    ImageDraw.Draw(scratch).line([(60, 70), (190, 150)], fill=(40, 38, 36), width=4)
    scratch.save(out / "scratch.png")
    dent = plate(4)
    draw = ImageDraw.Draw(dent)
    draw.ellipse([150, 40, 200, 90], fill=(70, 66, 62))
    draw.ellipse([160, 50, 190, 80], fill=(205, 200, 195))
    dent.filter(ImageFilter.GaussianBlur(1.0)).save(out / "dent.png")


# -- the walkway scene ---------------------------------------------------------------------

# (start x, speed in px/s, lane y, shirt colour) of each walker; negative speed walks left.
_WALKERS = (
    (30.0, 14.0, 150, (180, 60, 60)),
    (250.0, -11.0, 165, (60, 90, 170)),
    (120.0, 9.0, 178, (70, 140, 80)),
    (300.0, -16.0, 142, (150, 120, 40)),
)


def _background(width: int, height: int) -> Image.Image:
    """Sky, a building, lawns, the paved walkway and a fence; fixed noise for texture."""
    rng = np.random.default_rng(7)
    image = np.zeros((height, width, 3), dtype=np.float64)
    image[:] = (150, 190, 225)  # sky
    image[60:] = (95, 150, 70)  # lawn
    image[130:195] = (150, 148, 140)  # walkway
    noise = rng.normal(0, 6, size=(height, width, 1))
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    draw.rectangle([180, 10, 300, 70], fill=(170, 120, 100))  # building
    for x in range(190, 300, 22):
        draw.rectangle([x, 22, x + 10, 34], fill=(90, 110, 140))
        draw.rectangle([x, 44, x + 10, 56], fill=(90, 110, 140))
    for x in (40, 110):  # trees
        draw.rectangle([x - 3, 70, x + 3, 110], fill=(90, 60, 40))
        draw.ellipse([x - 20, 40, x + 20, 85], fill=(50, 110, 50))
    draw.line([(0, 125), (width, 125)], fill=(80, 80, 80), width=2)  # fence rail
    for x in range(0, width, 16):
        draw.line([(x, 112), (x, 128)], fill=(80, 80, 80), width=2)
    return picture


def _walker(
    draw: ImageDraw.ImageDraw, x: float, y: int, colour: tuple[int, int, int], t: float
) -> None:
    """A person seen from the side: head, shirt, and legs that swing as they walk."""
    swing = 4 * np.sin(t * 6.0 + x * 0.1)
    draw.line([(x, y), (x - swing, y + 16)], fill=(40, 40, 60), width=3)
    draw.line([(x, y), (x + swing, y + 16)], fill=(40, 40, 60), width=3)
    draw.rectangle([x - 5, y - 20, x + 5, y], fill=colour)
    draw.ellipse([x - 5, y - 31, x + 5, y - 21], fill=(230, 190, 160))


def _cyclist(draw: ImageDraw.ImageDraw, x: float, y: int) -> None:
    """A person riding a bicycle: two wheels, a frame, a rider leaning forward."""
    for wheel_x in (x - 14, x + 14):
        draw.ellipse([wheel_x - 10, y - 10, wheel_x + 10, y + 10], outline=(20, 20, 20), width=3)
    draw.line([(x - 14, y), (x, y - 10), (x + 14, y)], fill=(200, 30, 30), width=3)
    draw.line([(x, y - 10), (x + 10, y - 14)], fill=(200, 30, 30), width=3)
    draw.line([(x - 2, y - 12), (x + 4, y - 30)], fill=(240, 200, 40), width=7)  # rider
    draw.ellipse([x, y - 42, x + 11, y - 31], fill=(230, 190, 160))


def walkway_frame(t: float, *, cyclist_from: float, cyclist_to: float) -> Image.Image:
    """The scene at time ``t`` seconds; the cyclist crosses between the two times."""
    picture = _background(VIDEO_WIDTH, VIDEO_HEIGHT)
    draw = ImageDraw.Draw(picture)
    for start, speed, lane, colour in _WALKERS:
        x = (start + speed * t) % (VIDEO_WIDTH + 40) - 20
        _walker(draw, x, lane, colour, t)
    if cyclist_from <= t <= cyclist_to:
        share = (t - cyclist_from) / (cyclist_to - cyclist_from)
        _cyclist(draw, -30 + share * (VIDEO_WIDTH + 60), 172)
    return picture


def video_frames() -> Iterator[Image.Image]:
    """Every frame of ``walkway.mp4``."""
    for index in range(VIDEO_FPS * VIDEO_SECONDS):
        yield walkway_frame(
            index / VIDEO_FPS, cyclist_from=CYCLIST_START_S, cyclist_to=CYCLIST_END_S
        )


def folder_frames() -> Iterator[Image.Image]:
    """The frames of ``frames/``: the cyclist crosses in the second half."""
    start = FRAMES_CYCLIST_FROM / VIDEO_FPS
    end = (FRAMES_COUNT - 1) / VIDEO_FPS
    for index in range(FRAMES_COUNT):
        yield walkway_frame(index / VIDEO_FPS + 0.3, cyclist_from=start + 0.3, cyclist_to=end + 0.5)


def write_video(path: Path, frames: Iterator[Image.Image]) -> None:
    """H.264 in MP4, one encoder thread and fixed settings so the bytes repeat."""
    import av

    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        container.metadata.clear()
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width, stream.height = VIDEO_WIDTH, VIDEO_HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, VIDEO_FPS)
        stream.thread_count = 1
        stream.options = {"crf": "30", "preset": "medium", "threads": "1", "g": "20"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# -- captions ------------------------------------------------------------------------------


def _frame_captions(count: int, anomalous_from: int | None) -> tuple[list[str], list[int]]:
    """One caption and one label per frame; anomalous frames mention the bicycle."""
    normal = (
        "There are 4 people in the image. All of them are walking on the walkway. Other "
        "than people, there are trees, a fence and a building.",
        "There are 4 people in the image. The first person is walking with a bag, the "
        "others are walking too. Other than people, there are trees, a lawn and a building.",
    )
    anomalous = (
        "There are 5 people in the image. Four people are walking, and one person is riding "
        "a bicycle fast along the walkway. Other than people, there are trees and a building.",
        "There are 5 people in the image. A person on a bicycle passes the people walking "
        "on the path. Other than people, there is a bicycle, trees and a fence.",
    )
    captions, labels = [], []
    for index in range(count):
        unusual = anomalous_from is not None and index >= anomalous_from
        captions.append((anomalous if unusual else normal)[index % 2])
        labels.append(int(unusual))
    return captions, labels


def write_caption_benchmark(root: Path) -> None:
    """``captions/walkway/``: video 01 is ``frames/`` (cyclist from frame 10), 02 is normal."""
    dataset = root / "walkway"
    (dataset / "test_frame").mkdir(parents=True, exist_ok=True)
    (dataset / "test_frame_description").mkdir(parents=True, exist_ok=True)
    videos = {"test_01": (FRAMES_COUNT, FRAMES_CYCLIST_FROM), "test_02": (16, None)}
    for name, (count, anomalous_from) in videos.items():
        captions, labels = _frame_captions(count, anomalous_from)
        with (dataset / "test_frame" / f"{name}.csv").open("w", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(["image_path", "label"])
            for index, label in enumerate(labels):
                writer.writerow([f"walkway/test/{name[-2:]}/{index:03d}.jpg", label])
        text = "\n".join(captions) + "\n"
        (dataset / "test_frame_description" / f"{name}.txt").write_text(text)
    (dataset / "rules.txt").write_text(RULES_TEXT)


def main() -> None:
    """Write every sample next to this script."""
    OUT.mkdir(exist_ok=True)
    plates = OUT / PLATES_DIR
    plates.mkdir(exist_ok=True)
    write_plates(plates)
    write_video(OUT / VIDEO_NAME, video_frames())
    frames = OUT / FRAMES_DIR
    frames.mkdir(exist_ok=True)
    for index, frame in enumerate(folder_frames()):
        frame.save(frames / f"{index:03d}.jpg", quality=85)
    (OUT / "normal-captions.txt").write_text("\n".join(NORMAL_CAPTIONS) + "\n")
    (OUT / "walkway-rules.txt").write_text(RULES_TEXT)
    write_caption_benchmark(OUT / "captions")


if __name__ == "__main__":
    main()
