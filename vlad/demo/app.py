"""The Gradio chat demo: drop in a video or image, say what matters, ask questions.

:func:`build_app` returns the :class:`gradio.Blocks` (tests call it with tiny models);
``vlad demo`` (:mod:`vlad.cli.demo`, which ``demo/app.py`` calls) launches it with
:func:`launch_app`. The event handlers are in :mod:`vlad.demo.handlers`, per-user state in
:mod:`vlad.demo.state`; the demo never imports the CLI.

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
from typing import TYPE_CHECKING, Any

from vlad.config.demo import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_MAX_VIDEO_SECONDS,
    DEFAULT_QUEUE_SIZE,
    DemoLimits,
)
from vlad.demo.handlers import (
    EVIDENCE_HEADERS,
    NO_ANALYSIS,
    DemoHandlers,
    check_upload,
    evidence_rows,
    gallery_items,
    summary_text,
    timeline_image,
)
from vlad.demo.state import DemoSession, SessionStore
from vlad.utils.clock import clock

if TYPE_CHECKING:
    import gradio as gr

    from vlad.pipeline.facade import Pipeline

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_HOST",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_MAX_UPLOAD_MB",
    "DEFAULT_MAX_VIDEO_SECONDS",
    "DEFAULT_PORT",
    "DEFAULT_QUEUE_SIZE",
    "EVIDENCE_HEADERS",
    "NO_ANALYSIS",
    "DemoHandlers",
    "DemoLimits",
    "DemoSession",
    "SessionStore",
    "build_app",
    "check_upload",
    "evidence_rows",
    "gallery_items",
    "launch_app",
    "scorer_line",
    "summary_text",
    "timeline_image",
]


def scorer_line(pipeline: Pipeline) -> str:
    """Which scorer draws the image scores and heat maps, in the words the page shows."""
    if getattr(pipeline, "learned", None) is not None:
        return f"AnomalyCLIP learned prompts ({pipeline.learned.source_name})"
    return "WinCLIP prompt ensemble"


def build_app(
    pipeline: Pipeline,
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
    """Build the demo app around a pipeline (not launched).

    Args:
        pipeline: The pipeline (its CLIP, language model and settings).
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
        pipeline,
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
            f"{clock(max_video_seconds)}. Heat maps: {scorer_line(pipeline)}."
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
