"""The PyAV decoder: sequential decoding, frames identified by their timestamps."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from vlad.media.video.errors import decoder_detail
from vlad.media.video.probe import FileProbe, video_stream_position
from vlad.media.video.sources.base import Stopped, rotate

__all__ = ["PyAVSource", "decoded_frames"]

log = logging.getLogger(__name__)


class PyAVSource:
    """Decodes with PyAV: sequentially, frames identified by their timestamps."""

    name = "pyav"

    def __init__(self, probe: FileProbe) -> None:
        self._probe = probe
        self._pts_index: dict[int, int] | None = (
            None if probe.pts is None else {int(p): i for i, p in enumerate(probe.pts)}
        )

    def close(self) -> None:
        """Nothing is held between calls."""

    def read(self, index: int) -> np.ndarray | None:
        """Decode one frame (seeking to the key frame before it)."""
        wanted = np.asarray([index])
        attempts = (True, False) if self._pts_index is not None and index > 0 else (False,)
        for seek in attempts:
            decoding = self._decode(wanted, seek=seek)
            image = None
            try:
                while True:
                    _, image = next(decoding)
            except StopIteration as done:
                if done.value is None:  # the seek missed: decode from the start
                    continue
                return image
            except Stopped:
                return None
        return None

    def frames(self, indices: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield the wanted frames; raise :class:`Stopped` when the stream ends too soon."""
        if not len(indices):
            return
        produced = None
        if self._pts_index is not None and indices[0] > 0:
            produced = yield from self._decode(indices, seek=True)
        if produced is None:  # no seek, or it did not reach the first wanted frame
            produced = yield from self._decode(indices, seek=False)
        assert produced is not None
        if produced:
            log.warning(
                "Video '%s': %d sampled frame(s) could not be decoded and were skipped.",
                self._probe.name,
                produced,
            )

    def _decode(
        self, indices: np.ndarray, *, seek: bool
    ) -> Generator[tuple[int, np.ndarray], None, int | None]:
        """Decode the wanted frames, from the start or from the key frame before the first.

        Returns:
            How many wanted frames were skipped as undecodable, or None when a seek did
            not lead exactly to the first wanted frame (nothing was yielded then).

        Raises:
            Stopped: When the stream ends before the last wanted frame.
        """
        import av

        probe = self._probe
        wanted = [int(i) for i in indices]
        position = 0  # next wanted index
        last_decoded = -1
        missing = 0
        previous = -1
        container = av.open(probe.path, metadata_errors="ignore")
        try:
            stream = container.streams.video[video_stream_position(container)]
            stream.thread_type = "AUTO"
            if seek:
                assert probe.pts is not None
                try:
                    container.seek(int(probe.pts[wanted[0]]), stream=stream, backward=True)
                except Exception as exc:  # an unseekable file: decode from the start
                    log.debug("Seek failed in '%s': %s.", probe.name, decoder_detail(exc))
                    return None
            for frame in decoded_frames(container, stream, probe.end_pos):
                index, exact = self._index_of(frame, previous)
                if index is None:
                    continue
                # After a seek, only an exact timestamp tells where decoding resumed, and
                # the first wanted frame must not be passed (an imprecise seek, or an open
                # GOP whose leading frames cannot be decoded from there): else start over.
                if seek and ((previous < 0 and not exact) or (position == 0 and index > wanted[0])):
                    return None
                previous = last_decoded = index
                while position < len(wanted) and wanted[position] < index:
                    missing += 1
                    position += 1
                if position == len(wanted):
                    break
                if wanted[position] == index:
                    position += 1
                    image = frame.to_ndarray(format="rgb24")
                    yield index, rotate(image, probe.quarter_turns)
                    if position == len(wanted):
                        break
        finally:
            container.close()
        if seek and last_decoded < 0:
            return None
        if position < len(wanted):
            raise Stopped(last_decoded + 1, "the rest cannot be decoded")
        return missing

    def _index_of(self, frame: Any, previous: int) -> tuple[int | None, bool]:
        """Index of a decoded frame and whether its timestamp says so (else: counted).

        A frame whose timestamp is not in the table follows the previous one; a frame
        before the first kept one (undecodable leading frames) gets None. When the
        container's timestamps are in file order (AVI), only the first frame after a seek
        (a key frame, first in both orders) is found by timestamp; the rest are counted.
        """
        by_pts = self._pts_index is not None and frame.pts is not None
        if by_pts and (self._probe.pts_in_order or previous < 0):
            index = self._pts_index.get(int(frame.pts))  # type: ignore[union-attr]
            if index is not None:
                return index, True
            if self._probe.pts_in_order and frame.pts < int(self._probe.pts[0]):  # type: ignore[index]
                return None, False
        index = previous + 1
        return (index if index < len(self._probe.times) else None), False


def decoded_frames(container: Any, stream: Any, end_pos: int | None = None) -> Iterator[Any]:
    """Decode a stream's packets, tolerating bad packets and a damaged end of file.

    Args:
        container: An open PyAV container.
        stream: Its video stream.
        end_pos: Byte offset of a cut file's partial last packet: decoding stops before
            it, since feeding it to a frame-threaded decoder loses the frames it holds.
    """
    import av

    packets = container.demux(stream)
    context = stream.codec_context
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (av.FFmpegError, OSError, EOFError) as exc:  # a read error: the file ends
            log.debug("Demuxing stopped: %s", decoder_detail(exc))
            break
        if packet.size == 0 or packet.is_discard:
            continue
        if end_pos is not None and packet.pos is not None and packet.pos >= end_pos:
            break
        try:
            frames = context.decode(packet)
        except (av.FFmpegError, ValueError) as exc:  # one bad packet: skip its frame
            log.debug("Skipping a packet that cannot be decoded: %s", decoder_detail(exc))
            continue
        yield from frames
    try:
        yield from context.decode(None)
    except (av.FFmpegError, ValueError) as exc:
        log.debug("Flushing the decoder failed: %s", decoder_detail(exc))
