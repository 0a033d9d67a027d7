"""Streaming video ingestion: probe, sample at a target rate, segment, decode in chunks.

A *video* is a video file, or a folder of frame images read at a given frame rate (the
layout of the ShanghaiTech, Avenue and UCSD Ped2 test sets). :func:`open_video` returns a
:class:`VideoReader` whose :meth:`~VideoReader.iter_frames` decodes a few frames at a time,
so memory does not grow with the length of the video; :func:`~vlad.utils.prefetch.prefetch`
runs that decoding on a background thread while the caller embeds the previous frames, and
:func:`vlad.media.segments.segments_for` cuts a video into fixed-length segments (it is not
re-exported here: it uses these records, so the import would go in a circle).

Layout: ``records`` (:class:`VideoInfo`, :class:`Frame`, suffixes), ``probe`` (what a file
or folder holds, :func:`probe_video`), ``sources/`` (the PyAV, decord and frame-folder
decoders), ``reader`` (:class:`VideoReader`, :func:`open_video`) and ``errors`` (the
one-sentence messages about unreadable files).

Time
----
Every frame keeps its true presentation time (the container's timestamps, relative to the
first frame), so variable-frame-rate videos (phones, screen recordings, many network
cameras) are sampled at the right moments. Sampling at ``fps`` takes, for each target
time ``k / fps`` before the end of the video, the latest frame shown at or before that
time (:meth:`VideoReader.sample_indices`).

Decoders
--------
Files are always probed with PyAV first: that is where every unreadable input (empty
file, text named ``.mp4``, audio only, unsupported codec, MP4 cut before its index) is
turned into an :class:`~vlad.errors.InputError` of one sentence, before any other decoder
sees the file. The probe reads every packet header once (not the pixels), which gives
exact timestamps, the number of frames really present and whether the file was cut short.

Pixels are then decoded by PyAV by default. decord is used only when asked for
(``backend="decord"``), and then only where it was checked to be right: it returns *wrong
frames without any error* for many ordinary files (after a seek or skip in MPEG-4 part 2
or MPEG-2 with B-frames, H.264 in AVI, H.264 or HEVC with open GOPs, MPEG-TS with
B-frames, MPEG-PS and WMV), arrays of the wrong shape for some frame widths and shifted
colours for odd heights; and decord 0.6 keeps decoding ahead to the end of the file after
every batch, so its memory grows with the video's length. When asked for, decord must
still agree with the probe on frame count, timestamps and the pixels of the first frame,
or PyAV is used; any decord error later switches the reader to PyAV for the remaining
frames.

Damaged files
-------------
A file cut short (an interrupted download or recording) gives the frames that can be
decoded: ``frame_count`` never counts frames that are missing, and
:attr:`VideoReader.stopped_early` says where the readable part ends (a warning is
logged). MKV, AVI and MPEG-TS keep working when cut; an MP4 keeps its index (``moov``) at
the end unless written with ``+faststart``, so a cut MP4 is usually wholly unreadable and
gives an InputError. A packet that cannot be decoded in the middle of a file is skipped
(a warning counts them); decoding that fails for good ends the iteration there, never
with an exception.

Pixels
------
Frames are (H, W, 3) uint8 RGB arrays at the stored size, turned upright when the file
carries a rotation (phone videos); non-square pixels are not resampled. In a frame
folder, an image whose size differs from the first one is resized (bilinear) to the
first image's size, with a warning, so that every frame of a video has the same shape;
an image that cannot be read is skipped with a warning.
"""

from vlad.media.video.probe import probe_video
from vlad.media.video.reader import VideoReader, open_video
from vlad.media.video.records import VIDEO_EXTENSIONS, Backend, Frame, VideoInfo, is_video_path
from vlad.utils.prefetch import prefetch

__all__ = [
    "VIDEO_EXTENSIONS",
    "Backend",
    "Frame",
    "VideoInfo",
    "VideoReader",
    "is_video_path",
    "open_video",
    "prefetch",
    "probe_video",
]
