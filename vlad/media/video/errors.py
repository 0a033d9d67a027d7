"""The one-sentence errors about a video file that cannot be read.

Every unreadable input (empty file, text or HTML named ``.mp4``, Git LFS pointer, MP4 cut
before its index, damaged data) becomes an :class:`~vlad.errors.InputError` that names the
file, says what is wrong and what to do. Decoder messages quoted in them are cut to one line.
"""

from __future__ import annotations

import logging
import os
import re
import threading

from vlad.errors import InputError
from vlad.utils.messages import exception_detail, printable

__all__ = ["decoder_detail", "open_failure", "printable", "video_error", "warn_once"]

# decord prefixes its messages with "[hh:mm:ss] /path/of/its/source.cc:123: ".
_RE_DECORD_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")


# (file identity, message) of the warnings already given; bounded so a long-lived process
# (the demo) cannot grow it without end.
_WARNED: set[tuple[object, str]] = set()
_WARNED_LIMIT = 4096
_WARNED_LOCK = threading.Lock()


def warn_once(log: logging.Logger, path: str | os.PathLike[str], message: str) -> None:
    """Log a warning about a file once per process, however often the file is reopened.

    One analysis opens a video several times (probe, frames, keyframes, maps); a damaged
    end is found each time and would be reported each time. The same message about the
    same file (same size and modification time) is logged only the first time; a file
    that changed is warned about again.

    Args:
        log: The logger to warn on.
        path: The file the message is about.
        message: The whole warning, one sentence.
    """
    try:
        info = os.stat(path)
        identity: object = (os.fspath(path), info.st_size, info.st_mtime_ns, info.st_ino)
    except OSError:
        identity = os.fspath(path)
    key = (identity, message)
    with _WARNED_LOCK:
        if key in _WARNED:
            return
        if len(_WARNED) >= _WARNED_LIMIT:
            _WARNED.clear()
        _WARNED.add(key)
    log.warning("%s", message)


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
