"""The one-sentence errors about a video file that cannot be read.

Every unreadable input (empty file, text or HTML named ``.mp4``, Git LFS pointer, MP4 cut
before its index, damaged data) becomes an :class:`~vlad.errors.InputError` that names the
file, says what is wrong and what to do. Decoder messages quoted in them are cut to one line.
"""

from __future__ import annotations

import re

from vlad.errors import InputError
from vlad.utils.messages import exception_detail, printable

__all__ = ["decoder_detail", "open_failure", "printable", "video_error"]

# decord prefixes its messages with "[hh:mm:ss] /path/of/its/source.cc:123: ".
_RE_DECORD_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")


def decoder_detail(exc: BaseException) -> str:
    """Return a short, one-line description of a decoder exception (decord's prefix dropped)."""
    return exception_detail(exc, drop=_RE_DECORD_PREFIX)


def video_error(name: str, problem: str, action: str, *, param: str | None = None) -> InputError:
    """Build the one-line error ``Cannot read video 'name': problem; action.``.

    Args:
        name: The video as given.
        problem: What is wrong with it.
        action: What to do.
        param: The parameter the action names, if any.
    """
    return InputError(f"Cannot read video '{printable(name)}': {problem}; {action}.", param=param)


def _looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file are plain text."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def open_failure(name: str, head: bytes, exc: BaseException) -> InputError:
    """Explain why FFmpeg could not open a file, from its first bytes."""
    stripped = head.lstrip()
    if stripped.startswith(b"version https://git-lfs"):
        return video_error(
            name,
            "it is a Git LFS pointer, not the video itself",
            "run 'git lfs pull' in its repository to fetch the real file",
        )
    if stripped[:15].lower().startswith((b"<!doctype html", b"<html")):
        return video_error(
            name,
            "it is an HTML page, not a video (probably a failed download)",
            "download the video again",
        )
    if head[4:8] == b"ftyp":
        return video_error(
            name,
            "it is an MP4/MOV file whose index (moov atom) is missing, usually because the "
            "file was cut short or the recording never finished",
            "copy it again, or repair it with a tool such as untrunc",
        )
    if _looks_like_text(head):
        return video_error(
            name,
            "it is a text file, not a video",
            "pass a video file (MP4, MKV, AVI, MOV, WebM...)",
        )
    return video_error(
        name,
        f"it is damaged or not a video format FFmpeg can read (FFmpeg: {decoder_detail(exc)})",
        "check the file, or re-encode it to H.264 MP4",
    )
