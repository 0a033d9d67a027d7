"""The Gradio chat demo: drop in a video or image, say what matters, ask questions.

:func:`build_app` returns the :class:`gradio.Blocks` (tests call it with tiny models);
``vlad demo`` (:mod:`vlad.cli.demo`) and ``demo/app.py`` launch it with :func:`launch_app`.

What a person sees: a file box, optional anomaly definitions (one per line) and a scene,
a progress bar while the video is analysed, the score timeline with the anomalous
intervals shaded, a gallery of keyframes with heat-map overlays, the evidence table, and a
chat that answers from the evidence. Two named API endpoints serve ``gradio_client``:
``/analyze`` (file, definitions, scene) returns the summary, and ``/chat`` (message)
returns the answer about the last analysis of that client's session.

Safety by default: the server binds 127.0.0.1, makes no public link unless asked, limits
the upload size and the video duration (with one clear sentence), keeps each session's
analysis apart (a per-session :class:`gradio.State` holds a random key into a bounded
store), runs model work through a queue with a concurrency limit, and answers every bad
upload with one sentence in the chat; no traceback reaches the page.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.answer.explanation import Explanation, KeyFrame, clock, span
from vlad.errors import VladError

if TYPE_CHECKING:
    import gradio as gr

    from vlad.pipeline.analyzer import Analysis, Analyzer
    from vlad.pipeline.chat import AnalysisChat

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 200.0
DEFAULT_MAX_VIDEO_SECONDS = 600.0
DEFAULT_CONCURRENCY = 1
DEFAULT_QUEUE_SIZE = 32
DEFAULT_MAX_SESSIONS = 64
EVIDENCE_HEADERS = ["id", "time", "kind", "evidence", "score"]
NO_ANALYSIS = "Upload a video or image and press Analyze first; then ask about it here."


@dataclass
class DemoSession:
    """One browser tab's (or API client's) analysis and conversation.

    Attributes:
        analysis: The last successful analysis, or None.
        chat: The conversation about it.
        messages: The chat as shown, OpenAI-style ``{"role", "content"}`` dicts.
        gallery: The keyframes shown with the last answer.
    """

    analysis: Analysis | None = None
    chat: AnalysisChat | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    gallery: tuple[KeyFrame, ...] = ()


class SessionStore:
    """Sessions by random key, the least recently used dropped beyond ``capacity``.

    The per-session :class:`gradio.State` holds only the key, so no model object goes
    through Gradio's state copying, and memory stays bounded however many tabs open.

    Args:
        capacity: Most sessions kept.
    """

    def __init__(self, capacity: int = DEFAULT_MAX_SESSIONS) -> None:
        self.capacity = capacity
        self._sessions: OrderedDict[str, DemoSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> tuple[str, DemoSession]:
        """The session of a key, or a new one (with a new key) when unknown."""
        with self._lock:
            if key is not None and key in self._sessions:
                self._sessions.move_to_end(key)
                return key, self._sessions[key]
            key = uuid.uuid4().hex
            session = DemoSession()
            self._sessions[key] = session
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
            return key, session

    def __len__(self) -> int:
        return len(self._sessions)


@dataclass(frozen=True)
class DemoLimits:
    """What the demo accepts.

    Attributes:
        max_upload_mb: Largest upload, in megabytes.
        max_video_seconds: Longest video, in seconds.
    """

    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_video_seconds: float = DEFAULT_MAX_VIDEO_SECONDS


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
        analyzer: Does the work.
        limits: Upload limits.
        store: Where sessions live.
        memory: A retrieval memory used for every analysis, or None.
        rules: A rule set applied to every analysis, or None.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        limits: DemoLimits | None = None,
        store: SessionStore | None = None,
        *,
        memory: Any = None,
        rules: Any = None,
    ) -> None:
        self.analyzer = analyzer
        self.limits = limits or DemoLimits()
        self.store = store or SessionStore()
        self.memory = memory
        self.rules = rules

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

        try:
            check_upload(path, self.limits)
            analysis = self.analyzer.analyze(
                path,
                definitions=(definitions or "").splitlines(),
                scene=scene,
                rules=self.rules,
                memory=self.memory,
                progress=report,
            )
        except VladError as exc:
            # The upload's server-side path means nothing to the person: name the file.
            message = _one_sentence(str(exc).replace(str(path), name))
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
        session.chat = AnalysisChat(self.analyzer, analysis)
        session.gallery = analysis.explanation.keyframes
        summary = summary_text(analysis.explanation, name)
        session.messages.append({"role": "assistant", "content": summary})
        return summary, key

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
            answer = _one_sentence(str(exc))
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


def build_app(
    analyzer: Analyzer,
    *,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_video_seconds: float = DEFAULT_MAX_VIDEO_SECONDS,
    concurrency: int = DEFAULT_CONCURRENCY,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    memory: Any = None,
    rules: Any = None,
    title: str = "vlad: explainable anomaly chat",
) -> gr.Blocks:
    """Build the demo app around an analyzer (not launched).

    Args:
        analyzer: The analyzer (its CLIP, language model and settings).
        max_upload_mb: Largest upload accepted, in megabytes.
        max_video_seconds: Longest video accepted, in seconds.
        concurrency: Model events (analyses and answers) running at once.
        queue_size: Most events waiting in the queue; more are refused.
        max_sessions: Most sessions kept in memory (least recently used dropped).
        memory: A :class:`~vlad.scoring.memory.MemoryIndex` used for every analysis.
        rules: A :class:`~vlad.reasoning.rules.RuleSet` applied to every analysis.
        title: Page title.

    Returns:
        The :class:`gradio.Blocks`; launch it with :func:`launch_app`.
    """
    import gradio as gr

    handlers = DemoHandlers(
        analyzer,
        DemoLimits(max_upload_mb=max_upload_mb, max_video_seconds=max_video_seconds),
        SessionStore(max_sessions),
        memory=memory,
        rules=rules,
    )

    def run_analyze(
        file: str | None,
        definitions: str,
        scene: str,
        key: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's injection pattern)
    ) -> tuple[str, str]:
        return handlers.analyze(file, definitions, scene, key, progress)

    def run_chat(message: str, key: str | None) -> tuple[str, str]:
        return handlers.chat(message, key)

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        app.vlad_handlers = handlers  # type: ignore[attr-defined]  # for tests and tools
        key = gr.State(None)
        gr.Markdown(
            "## vlad: what is unusual in this footage, when, where and why\n"
            "Upload a video or an image, optionally say what counts as anomalous (one "
            "definition per line) and what the scene is, then press **Analyze**. Ask "
            'questions in the chat: *"is anything unusual here?"*, *"what happens at '
            '0:03?"*, *"why is that anomalous?"*, *"is anyone riding a bicycle?"*. '
            f"Limits: {max_upload_mb:g} MB per file, videos up to "
            f"{clock(max_video_seconds)}."
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                upload = gr.File(label="Video or image", elem_id="upload")
                definitions = gr.Textbox(
                    value="",
                    label="What counts as anomalous (one per line, optional)",
                    lines=3,
                    placeholder="a person riding a bicycle\na fight between people",
                    elem_id="definitions",
                )
                scene = gr.Textbox(
                    value="",
                    label="Scene (optional)",
                    placeholder="a university campus walkway",
                    elem_id="scene",
                )
                analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze")
                summary = gr.Textbox(label="Summary", lines=4, interactive=False, elem_id="summary")
            with gr.Column(scale=2):
                timeline = gr.Image(
                    label="Score timeline (anomalous intervals shaded)",
                    interactive=False,
                    elem_id="timeline",
                    format="png",
                )
                gallery = gr.Gallery(
                    label="Keyframes with heat maps",
                    columns=4,
                    fit_columns=False,
                    object_fit="contain",
                    height=260,
                    elem_id="keyframes",
                    format="png",
                )
        with gr.Row():
            with gr.Column(scale=2):
                chatbot = gr.Chatbot(label="Chat", height=360, elem_id="chat")
                with gr.Row():
                    message = gr.Textbox(
                        show_label=False,
                        placeholder="Ask about the analysis and press Enter",
                        scale=5,
                        elem_id="message",
                    )
                    send = gr.Button("Send", scale=1, elem_id="send")
                answer = gr.Textbox(visible=False)
            with gr.Column(scale=2):
                evidence = gr.Dataframe(
                    headers=EVIDENCE_HEADERS,
                    label="Evidence",
                    interactive=False,
                    wrap=True,
                    elem_id="evidence",
                )

        analyzed = analyze_button.click(
            run_analyze,
            inputs=[upload, definitions, scene, key],
            outputs=[summary, key],
            api_name="analyze",
            concurrency_id="models",
            show_progress_on=[summary, timeline],
        )
        analyzed.then(
            handlers.view,
            inputs=[key],
            outputs=[chatbot, timeline, gallery, evidence],
            api_visibility="private",
        )
        for trigger, api in ((message.submit, "public"), (send.click, "private")):
            asked = trigger(
                run_chat,
                inputs=[message, key],
                outputs=[answer, key],
                api_name="chat" if api == "public" else "chat_button",
                api_visibility=api,
                concurrency_id="models",
            )
            asked.then(
                handlers.chat_view,
                inputs=[key],
                outputs=[chatbot, gallery, message],
                api_visibility="private",
            )
    app.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    return app


def launch_app(
    app: gr.Blocks,
    *,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    share: bool = False,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    block: bool = True,
) -> Any:
    """Launch the app with safe defaults: loopback, no share link, an upload size limit.

    Args:
        app: From :func:`build_app`.
        host: Interface to bind (``0.0.0.0`` makes it reachable from the network).
        port: Port (None: Gradio picks a free one from 7860).
        share: Ask Gradio for a public link (off by default).
        max_upload_mb: Upload limit enforced by the server before the file is stored.
        block: Wait until the server stops (False returns at once, for tests).

    Returns:
        What :meth:`gradio.Blocks.launch` returns.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("The demo listens on %s: anyone who can reach this machine can use it.", host)
    return app.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=f"{max_upload_mb:g}mb",
        show_error=False,
        prevent_thread_lock=not block,
        quiet=not block,
        footer_links=["api"],
    )


def _one_sentence(text: str) -> str:
    """Errors reach the page as one line."""
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vlad demo`` with these arguments (``demo/app.py`` calls this).

    Args:
        argv: Options of ``vlad demo`` (default: the command line's).

    Returns:
        The exit status.
    """
    import sys

    from vlad.cli.main import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])
