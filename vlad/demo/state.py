"""Per-user state of the demo: each browser tab's analysis and conversation, kept apart."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vlad.config.demo import DEFAULT_MAX_SESSIONS

if TYPE_CHECKING:
    from vlad.answer.explanation import KeyFrame
    from vlad.pipeline.analysis import Analysis
    from vlad.pipeline.chat import AnalysisChat


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
