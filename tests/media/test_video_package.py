"""vlad.media.video as a package: its public names, and an import that decodes nothing."""

from __future__ import annotations

import subprocess
import sys

import vlad.media.video as video


def test_public_names_are_re_exported() -> None:
    from vlad.media.video.probe import probe_video
    from vlad.media.video.reader import VideoReader, open_video
    from vlad.media.video.records import VIDEO_EXTENSIONS, Frame, VideoInfo, is_video_path
    from vlad.utils.prefetch import prefetch

    assert video.open_video is open_video and video.VideoReader is VideoReader
    assert video.probe_video is probe_video and video.prefetch is prefetch
    assert video.Frame is Frame and video.VideoInfo is VideoInfo
    assert video.is_video_path is is_video_path and video.VIDEO_EXTENSIONS is VIDEO_EXTENSIONS
    assert sorted(video.__all__) == sorted(
        [
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
    )


def test_importing_the_package_loads_no_decoder() -> None:
    code = (
        "import sys, vlad.media.video; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'av', 'decord', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
