"""A chat backend for any OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI).

It speaks plain HTTP through ``httpx``: ``POST {base_url}/chat/completions`` with the
messages and the generation settings. A batch is sent as concurrent requests from a small
thread pool; connect errors, timeouts, 429 and 5xx answers are retried with exponential
backoff. No connection is made before the first :meth:`OpenAIChatBackend.chat`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from vlad.errors import (
    ConfigError,
    InputError,
    MissingDependencyError,
    ModelLoadError,
    VladError,
)
from vlad.reasoning.llm import Conversation, GenerationSettings

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 30.0


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise MissingDependencyError(
            "The OpenAI-compatible backend needs httpx, a dependency of vlad; install it "
            "with pip install httpx."
        ) from exc
    return httpx


def _reason(exc: BaseException) -> str:
    """A short lower-case reason for a transport error, without a final period."""
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text).strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _schema_name(schema: dict[str, Any]) -> str:
    """A ``response_format`` name: OpenAI allows letters, digits, ``_`` and ``-`` only."""
    title = str(schema.get("title") or "answer")
    return re.sub(r"[^A-Za-z0-9_-]", "_", title)[:64] or "answer"


def request_body(
    model: str, conversation: Conversation, settings: GenerationSettings
) -> dict[str, Any]:
    """The JSON body of one ``/chat/completions`` request.

    Args:
        model: The model name the server knows.
        conversation: OpenAI-format messages.
        settings: How to generate.

    Returns:
        The request body; ``response_format`` is set when ``settings.json_schema`` is.
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": list(conversation),
        "max_tokens": settings.max_new_tokens,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "seed": settings.seed,
        "n": 1,
    }
    if settings.stop:
        body["stop"] = list(settings.stop)
    if settings.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": _schema_name(settings.json_schema),
                "schema": settings.json_schema,
            },
        }
    return body


class OpenAIChatBackend:
    """Chat with a model behind an OpenAI-compatible HTTP API.

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1`` (vLLM) or
            ``https://api.openai.com/v1``.
        model: The model's name on that server, e.g. ``Qwen2.5-7B-Instruct``.
        api_key: Sent as a bearer token when given.
        timeout_s: Seconds to wait for one answer (connect and read) before a retry.
        max_retries: Retries per request after the first try, on connect errors,
            timeouts, 429 and 5xx answers.
        backoff_s: Wait before the first retry; doubled each further retry (a server's
            ``Retry-After`` is honoured when longer), at most 30 s.
        concurrency: Requests in flight at once for a batch.

    Raises:
        ConfigError: A setting is out of range.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        concurrency: int = 4,
    ) -> None:
        if not re.match(r"^https?://[^/\s]+", base_url or ""):
            raise ConfigError(
                f"The model server URL '{base_url}' is not an http(s) URL; pass one such as "
                "http://127.0.0.1:8000/v1."
            )
        if not model:
            raise ConfigError(
                f"No model name is given for the server at {base_url}; pass the name it "
                "serves, e.g. openai:http://127.0.0.1:8000/v1#Qwen2.5-7B-Instruct."
            )
        if not timeout_s > 0:
            raise ConfigError(f"The model server timeout must be above 0 s, got {timeout_s}.")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}.")
        if not backoff_s >= 0:
            raise ConfigError(f"backoff_s must be 0 or more, got {backoff_s}.")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}.")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.concurrency = int(concurrency)
        self._api_key = api_key or None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self.requests = 0
        """HTTP requests sent, retries included."""
        self.retries = 0
        """Requests sent again after a retryable failure."""

    @property
    def name(self) -> str:
        """``openai:BASE_URL#MODEL``, the spec that builds this backend again."""
        return f"openai:{self.base_url}#{self.model}"

    @property
    def endpoint(self) -> str:
        """The URL requests go to."""
        return f"{self.base_url}/chat/completions"

    def __repr__(self) -> str:
        return f"OpenAIChatBackend({self.base_url!r}, {self.model!r})"  # never the key

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                httpx = _httpx()
                headers = {"Content-Type": "application/json"}
                if self._api_key:
                    headers["Authorization"] = f"Bearer {self._api_key}"
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout_s),
                    limits=httpx.Limits(
                        max_connections=self.concurrency,
                        max_keepalive_connections=self.concurrency,
                    ),
                    headers=headers,
                )
            return self._client

    def close(self) -> None:
        """Close the HTTP connections; a later chat opens new ones."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        """Answer each conversation; one text per conversation, in order.

        Args:
            conversations: OpenAI-format conversations.
            settings: How to generate.

        Returns:
            The answers' texts.

        Raises:
            ModelLoadError: The server cannot be reached, keeps failing or times out, or
                does not know the model or the key.
            VladError: The server answers something that is not a chat completion.
        """
        if not conversations:
            return []
        bodies = [self._encode(c, settings) for c in conversations]  # fail before sending
        client = self._http()
        if len(bodies) == 1 or self.concurrency == 1:
            return [self._complete(client, body) for body in bodies]
        workers = min(self.concurrency, len(bodies))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vlad-openai")
        try:
            futures: list[Future[str]] = [
                pool.submit(self._complete, client, body) for body in bodies
            ]
            return [future.result() for future in futures]
        finally:
            # On an error, requests not yet started are dropped rather than sent.
            pool.shutdown(wait=True, cancel_futures=True)

    def _count(self, retry: bool) -> None:
        with self._lock:
            self.requests += 1
            if retry:
                self.retries += 1

    def _wait_s(self, attempt: int, response: httpx.Response | None) -> float:
        wait = self.backoff_s * (2**attempt)
        if response is not None:
            # A Retry-After given as an HTTP date is ignored: the backoff is close enough.
            with contextlib.suppress(ValueError):
                wait = max(wait, float(response.headers.get("retry-after", 0)))
        return min(wait, _MAX_BACKOFF_S)

    def _encode(self, conversation: Conversation, settings: GenerationSettings) -> bytes:
        try:
            text = json.dumps(request_body(self.model, conversation, settings))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"A message for the model server at {self.base_url} cannot be sent as JSON "
                f"({exc}); pass text and images as data: or http(s) URLs."
            ) from None
        return text.encode("utf-8", "surrogatepass")

    def _complete(self, client: httpx.Client, body: bytes) -> str:
        httpx = _httpx()
        attempt = 0
        last_exc: BaseException | None = None
        while True:
            self._count(retry=attempt > 0)
            response: httpx.Response | None = None
            failure: str
            try:
                response = client.post(self.endpoint, content=body)
            except httpx.TimeoutException:
                failure = "timeout"
            except (httpx.TransportError, OSError) as exc:
                failure = _reason(exc)
                last_exc = exc
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return self._read(response)
                failure = f"status {response.status_code}"
            if attempt >= self.max_retries:
                break
            wait = self._wait_s(attempt, response)
            logger.warning(
                "The model server at %s failed (%s); retry %d of %d in %.2f s.",
                self.endpoint,
                failure,
                attempt + 1,
                self.max_retries,
                wait,
            )
            time.sleep(wait)
            attempt += 1
        tries = attempt + 1
        if failure == "timeout":
            raise ModelLoadError(
                f"The model server at {self.endpoint} did not answer within "
                f"{self.timeout_s:g} s in {tries} tries; check that it is not overloaded "
                "or raise the timeout."
            )
        if response is not None:
            raise ModelLoadError(
                f"The model server at {self.endpoint} kept failing ({failure}: "
                f"{_error_text(response)}) in {tries} tries; check its log or try later."
            )
        if isinstance(last_exc, httpx.ConnectError | OSError):
            raise ModelLoadError(
                f"Cannot reach the model server at {self.base_url}: {failure}; "
                "start it or check the llm spec.",
                param="llm",
            ) from last_exc
        raise ModelLoadError(
            f"The model server at {self.endpoint} dropped the connection ({failure}) in "
            f"{tries} tries; check its log or try later."
        ) from last_exc

    def _read(self, response: httpx.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            raise ModelLoadError(
                f"The model server at {self.endpoint} refused the API key (status {status}); "
                "set OPENAI_API_KEY or VLAD_LLM_API_KEY to a valid key."
            )
        if status == 404:
            raise ModelLoadError(
                f"The model server at {self.endpoint} answered 404 for model "
                f"'{self.model}' ({_error_text(response)}); check the URL (it usually ends "
                "in /v1) and the model name after '#' in the llm spec.",
                param="llm",
            )
        if status >= 400:
            raise VladError(
                f"The model server at {self.endpoint} rejected the request with status "
                f"{status} ({_error_text(response)}); shorten the prompt or fix the settings."
            )
        try:
            data = response.json()
        except ValueError:
            raise VladError(
                f"The model server at {self.endpoint} answered something that is not JSON "
                f"({_snippet(response.text)}); check that the llm spec points at an "
                "OpenAI-compatible /v1 API.",
                param="llm",
            ) from None
        try:
            message = data["choices"][0]["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise VladError(
                f"The model server at {self.endpoint} answered JSON without "
                f"choices[0].message ({_snippet(response.text)}); check that the llm spec "
                "points at an OpenAI-compatible /v1 API.",
                param="llm",
            ) from None
        if content is None:
            logger.warning(
                "The model server at %s answered without text (finish_reason %r).",
                self.endpoint,
                data["choices"][0].get("finish_reason"),
            )
            return ""
        if not isinstance(content, str):
            raise VladError(
                f"The model server at {self.endpoint} answered content that is not text "
                f"({_snippet(json.dumps(content))}); check that the llm spec points at an "
                "OpenAI-compatible /v1 API.",
                param="llm",
            )
        return content


def _snippet(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    shown = text[:limit] + ("..." if len(text) > limit else "")
    return repr(shown) if shown else "an empty body"


def _error_text(response: httpx.Response) -> str:
    """The server's own error message, as short as it can be."""
    try:
        data = response.json()
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
        return _snippet(str(message)).strip("'\"").rstrip(".")
    except ValueError:
        return _snippet(response.text).strip("'\"").rstrip(".")
