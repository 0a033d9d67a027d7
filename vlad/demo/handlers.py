"""The functions behind the demo's events, separate from Gradio so tests can call them.

Every analysis goes through :meth:`vlad.pipeline.Pipeline.analyze_one`, so the demo's
``/analyze`` gives the same :class:`~vlad.answer.explanation.Explanation` as ``vlad detect``
and the Python API.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.answer.explanation import Explanation, KeyFrame
from vlad.config.demo import DemoLimits
from vlad.demo.state import DemoSession, SessionStore
from vlad.errors import InputError, VladError
from vlad.utils.clock import clock, span
from vlad.utils.messages import one_line

if TYPE_CHECKING:
    from vlad.pipeline.facade import Pipeline

log = logging.getLogger(__name__)

_MESSAGE_CHARS = 400  # errors reach the page as one line of at most this many characters

EVIDENCE_HEADERS = ["id", "time", "kind", "evidence", "score"]
NO_ANALYSIS = "Upload a video or image and press Analyze first; then ask about it here."

__all__ = [
    "DemoHandlers",
    "DemoSession",
    "SessionStore",
    "check_upload",
    "discard_upload",
    "gradio_upload_folder",
]


def check_upload(path: Path, limits: DemoLimits) -> None:
    """Refuse an upload that is missing, empty, too big or too long (one sentence).

    Args:
        path: The uploaded file.
        limits: The limits.

    Raises:
        VladError: The reason, naming the file and what to do.
    """
    from vlad.errors import InputError

    name = path.name
    if not path.is_file():
        raise InputError(f"The upload '{name}' did not arrive; upload the file again.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"The file '{name}' is empty; upload a video or an image.")
    if size > limits.max_upload_mb * 1e6:
        raise InputError(
            f"The file '{name}' is {size / 1e6:.1f} MB, over this demo's limit of "
            f"{limits.max_upload_mb:g} MB; upload a shorter or smaller file."
        )
    from vlad.media.video import is_video_path, probe_video

    if is_video_path(path):
        info = probe_video(path)
        if info.duration_s > limits.max_video_seconds:
            raise InputError(
                f"The video '{name}' is {clock(info.duration_s)} long, over this demo's limit "
                f"of {clock(limits.max_video_seconds)}; trim it or start the demo with a "
                "larger --max-video-seconds."
            )


def gradio_upload_folder() -> Path:
    """Where Gradio keeps uploaded files: ``$GRADIO_TEMP_DIR``, else ``TMP/gradio``.

    Returns:
        The folder, as the installed Gradio decides it (its own rule when Gradio is not
        importable).
    """
    try:
        from gradio.utils import get_upload_folder
    except ImportError:
        folder = os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio"
        return Path(folder)
    return Path(get_upload_folder())


def discard_upload(path: Path, upload_folder: Path) -> bool:
    """Remove a refused upload, only when it is a file Gradio put in its upload folder.

    Gradio keeps each upload as ``UPLOADS/<hash>/NAME``; that file is removed, then its
    ``<hash>`` folder when empty. A path outside ``upload_folder``, a symbolic link or
    anything but a plain file is left alone.

    Args:
        path: The upload, as the app received it.
        upload_folder: Gradio's upload folder.

    Returns:
        True when the file was removed.
    """
    try:
        root = upload_folder.resolve(strict=True)
        if path.is_symlink() or not path.is_file():
            return False
        resolved = path.resolve(strict=True)
    except OSError:
        return False
    if root not in resolved.parents:
        return False
    try:
        resolved.unlink()
    except OSError as exc:
        log.warning("Could not remove the refused upload %s (%s).", resolved, exc)
        return False
    if resolved.parent != root:
        with contextlib.suppress(OSError):  # not empty: another upload of Gradio's is there
            resolved.parent.rmdir()
    return True


# ----------------------------------------------------------------------- rendering


def summary_text(explanation: Explanation, name: str) -> str:
    """The one-paragraph summary returned by ``/analyze`` and shown above the plot."""
    if explanation.kind == "video":
        count = len(explanation.intervals)
        found = (
            f"{count} anomalous interval{'s' if count != 1 else ''}: "
            + "; ".join(
                f"[{e.id}] {span(e.interval.start_s, e.interval.end_s)}"
                for e in explanation.evidence
            )
            if count
            else "no anomalous interval"
        )
        head = (
            f"{name}: {explanation.verdict} ({found}; highest score {explanation.score:.2f}, "
            f"threshold {explanation.threshold:.2f}, length {clock(explanation.duration_s)})."
        )
    else:
        head = (
            f"{name}: {explanation.verdict} (image score {explanation.score:.2f}, threshold "
            f"{explanation.threshold:.2f})."
        )
    notes = " ".join(explanation.notes)
    return " ".join(p for p in (head, explanation.text, notes) if p)


def evidence_rows(explanation: Explanation) -> list[list[Any]]:
    """The evidence table: one row per definition, rule and neighbour of each interval."""
    rows: list[list[Any]] = []
    for evidence in explanation.evidence:
        when = (
            "image"
            if explanation.kind == "image"
            else span(evidence.interval.start_s, evidence.interval.end_s)
        )
        for item in evidence.items:
            kind = item.kind
            text = item.text
            if item.kind == "rule":
                text = f"{item.ref}: {item.text}"
            elif item.kind == "memory":
                kind = f"memory ({item.label})"
            rows.append([evidence.id, when, kind, text, round(float(item.score), 3)])
        if evidence.memory_score is not None:
            rows.append(
                [evidence.id, when, "memory score", "", round(float(evidence.memory_score), 3)]
            )
    return rows


def timeline_image(explanation: Explanation) -> np.ndarray | None:
    """The score timeline (tracks, threshold, shaded intervals) as an RGB array."""
    if explanation.kind != "video":
        return None
    from PIL import Image

    from vlad.answer.render import plot_timeline

    view = SimpleNamespace(
        tracks=explanation.tracks,
        intervals=explanation.intervals,
        threshold=explanation.threshold,
        low_threshold=explanation.low_threshold,
        info=SimpleNamespace(duration_s=explanation.duration_s),
        input=explanation.input,
    )
    with tempfile.TemporaryDirectory(prefix="vlad-plot-") as folder:
        path = plot_timeline(
            view,
            Path(folder) / "timeline.png",
            title=f"{Path(explanation.input).name}: {explanation.verdict}",
        )
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))


def gallery_items(frames: Sequence[KeyFrame], kind: str) -> list[tuple[np.ndarray, str]]:
    """Keyframes for the gallery: the heat-map overlay (or the frame) and a caption."""
    return [
        (frame.overlay if frame.overlay is not None else frame.image, frame.caption(kind))
        for frame in frames
    ]


# -------------------------------------------------------------------------- the app


class DemoHandlers:
    """The functions behind the app's events, separate from Gradio so tests can call them.

    Args:
        pipeline: Does the work (every analysis goes through it).
        limits: Upload limits.
        store: Where sessions live.
        memory: A retrieval memory used for every analysis, or None.
        rules: A rule set applied to every analysis, or None.
        upload_folder: Where Gradio keeps uploads (default: :func:`gradio_upload_folder`);
            an upload there that the demo refuses (too big, too long, unreadable) is
            removed (:func:`discard_upload`).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        limits: DemoLimits | None = None,
        store: SessionStore | None = None,
        *,
        memory: Any = None,
        rules: Any = None,
        upload_folder: Path | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.limits = limits or DemoLimits()
        self.store = store or SessionStore()
        self.memory = memory
        self.rules = rules
        self._upload_folder = upload_folder

    @property
    def analyzer(self) -> Pipeline:
        """The pipeline (its name before vlad 0.2)."""
        return self.pipeline

    def analyze(
        self,
        file: str | None,
        definitions: str | None,
        scene: str | None,
        key: str | None,
        progress: Any = None,
    ) -> tuple[str, str]:
        """Analyse an upload for a session.

        Returns:
            The summary (or the one-sentence reason it could not be analysed) and the
            session key.
        """
        from vlad.pipeline.chat import AnalysisChat

        key, session = self.store.get(key)
        if not file:
            message = "Upload a video or an image first, then press Analyze."
            session.messages.append({"role": "assistant", "content": message})
            return message, key
        path = Path(file)
        name = path.name
        session.messages.append({"role": "user", "content": f"Analyze {name}"})

        def report(fraction: float, stage: str) -> None:
            if progress is not None:
                progress(fraction, desc=stage)

        refused = True  # until the upload passes check_upload
        try:
            check_upload(path, self.limits)
            refused = False
            analysis = self.pipeline.analyze_one(
                path,
                definitions=(definitions or "").splitlines(),
                scene=scene,
                rules=self.rules,
                memory=self.memory,
                progress=report,
            )
        except VladError as exc:
            # A file refused for what it is (too big, too long, unreadable: an input error
            # naming it) stays refused: remove Gradio's copy. One refused for a setting is
            # kept, so Analyze can be pressed again.
            if refused or (isinstance(exc, InputError) and str(path) in str(exc)):
                self._discard(path)
            # The upload's server-side path means nothing to the person: name the file.
            message = one_line(str(exc).replace(str(path), name), limit=_MESSAGE_CHARS)
            session.analysis, session.chat, session.gallery = None, None, ()
            session.messages.append({"role": "assistant", "content": message})
            return message, key
        except Exception as exc:  # the page gets a sentence; the log gets the traceback
            log.exception("Analysis of %s failed", name)
            message = (
                f"Could not analyse '{name}': an unexpected error ({type(exc).__name__}); "
                "the server log has the details."
            )
            session.analysis, session.chat, session.gallery = None, None, ()
            session.messages.append({"role": "assistant", "content": message})
            return message, key
        session.analysis = analysis
        session.chat = AnalysisChat(self.pipeline, analysis)
        session.gallery = analysis.explanation.keyframes
        summary = summary_text(analysis.explanation, name)
        session.messages.append({"role": "assistant", "content": summary})
        return summary, key

    def _discard(self, path: Path) -> None:
        if self._upload_folder is None:
            self._upload_folder = gradio_upload_folder()
        discard_upload(path, self._upload_folder)

    def chat(self, message: str | None, key: str | None) -> tuple[str, str]:
        """Answer a question about the session's last analysis.

        Returns:
            The answer and the session key.
        """
        key, session = self.store.get(key)
        question = (message or "").strip()
        if session.chat is None:
            answer = NO_ANALYSIS
            if question:
                session.messages.append({"role": "user", "content": question})
            session.messages.append({"role": "assistant", "content": answer})
            return answer, key
        session.messages.append({"role": "user", "content": question})
        try:
            reply = session.chat.ask(question)
        except VladError as exc:
            answer = one_line(str(exc), limit=_MESSAGE_CHARS)
        except Exception as exc:
            log.exception("Answering %r failed", question)
            answer = (
                f"Could not answer that: an unexpected error ({type(exc).__name__}); "
                "the server log has the details."
            )
        else:
            answer = reply.text
            if reply.keyframes:
                session.gallery = reply.keyframes
        session.messages.append({"role": "assistant", "content": answer})
        return answer, key

    def view(self, key: str | None) -> tuple[Any, Any, Any, Any]:
        """What the page shows for a session: chat, timeline, gallery, evidence rows."""
        key, session = self.store.get(key)
        analysis = session.analysis
        if analysis is None:
            return list(session.messages), None, [], []
        explanation = analysis.explanation
        return (
            list(session.messages),
            timeline_image(explanation),
            gallery_items(session.gallery, explanation.kind),
            evidence_rows(explanation),
        )

    def chat_view(self, key: str | None) -> tuple[Any, Any, str]:
        """After an answer: the chat, the gallery of the answer's frames, an empty box."""
        key, session = self.store.get(key)
        kind = session.analysis.explanation.kind if session.analysis else "video"
        return list(session.messages), gallery_items(session.gallery, kind), ""
