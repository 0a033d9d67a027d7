"""Decoders behind :class:`~vlad.media.video.VideoReader`: PyAV, decord, frame folders.

Pixels are decoded by PyAV by default. decord is used only when asked for
(``backend="decord"``), and then only where it was checked to be right: it returns *wrong
frames without any error* for many ordinary files (after a seek or skip in MPEG-4 part 2
or MPEG-2 with B-frames, H.264 in AVI, H.264 or HEVC with open GOPs, MPEG-TS with
B-frames, MPEG-PS and WMV), arrays of the wrong shape for some frame widths and shifted
colours for odd heights; and decord 0.6 keeps decoding ahead to the end of the file after
every batch, so its memory grows with the video's length. When asked for, decord must
still agree with the probe on frame count, timestamps and the pixels of the first frame,
or PyAV is used; any decord error later switches the reader to PyAV for the remaining
frames.
"""

from vlad.media.video.sources.base import Source, Stopped, rotate
from vlad.media.video.sources.decord import DecordSource, decord_source
from vlad.media.video.sources.folder import FolderSource
from vlad.media.video.sources.pyav import PyAVSource, decoded_frames

__all__ = [
    "DecordSource",
    "FolderSource",
    "PyAVSource",
    "Source",
    "Stopped",
    "decoded_frames",
    "decord_source",
    "rotate",
]
