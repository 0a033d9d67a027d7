"""Tests of the OpenAI-compatible HTTP backend against a real server on the loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from vlad.errors import ConfigError, InputError, ModelLoadError, VladError
from vlad.reasoning.backends.openai_http import OpenAIChatBackend, request_body
from vlad.reasoning.llm import ChatBackend, GenerationSettings

SETTINGS = GenerationSettings(max_new_tokens=16)


class FakeServer:
    """An OpenAI-style /v1/chat/completions that echoes, counts and misbehaves on demand."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: list[int] = []  # statuses for the next requests, in order
        self.hang_s = 0.0
        self.garbage: bytes | None = None
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.bodies)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    status = server.failures.pop(0) if server.failures else 200
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    answer_status, payload = self._answer(body, status)
                finally:
                    # A request stops counting as in flight BEFORE its answer is written:
                    # the client can start its next request as soon as it has read this
                    # answer, and a handler thread descheduled between writing and
                    # counting down would otherwise be seen beside the next request (a
                    # busy machine saw 4 in flight with concurrency 3).
                    with server.lock:
                        server.in_flight -= 1
                self._send(answer_status, payload)

            def _answer(self, body: dict[str, Any], status: int) -> tuple[int, bytes]:
                if self.path != "/v1/chat/completions":
                    return 404, b'{"error": {"message": "no such route"}}'
                if server.hang_s:
                    server.release.wait(server.hang_s)
                if status != 200:
                    return status, b'{"error": {"message": "try again"}}'
                if server.garbage is not None:
                    return 200, server.garbage
                text = body["messages"][-1]["content"]
                if isinstance(text, list):
                    text = " ".join(p.get("text", "<image>") for p in text)
                if text.startswith("sleep:"):
                    time.sleep(float(text.split(":")[1].split()[0]))
                answer = {
                    "id": "x",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": f"echo {text}"},
                        }
                    ],
                }
                return 200, json.dumps(answer).encode()

        return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        fake.httpd.shutdown()
        fake.httpd.server_close()
        fake.thread.join(timeout=5)


def backend_for(server: FakeServer, **options: Any) -> OpenAIChatBackend:
    options = {"timeout_s": 5.0, "max_retries": 3, "backoff_s": 0.01, **options}
    return OpenAIChatBackend(server.base_url, "tiny-model", **options)


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_answers_and_sends_the_settings(server: FakeServer) -> None:
    settings = GenerationSettings(
        max_new_tokens=7, temperature=0.5, top_p=0.9, seed=11, stop=("\n\n",)
    )
    with OpenAIChatBackend(server.base_url, "tiny-model", api_key="sk-test") as backend:
        assert isinstance(backend, ChatBackend)
        assert backend.name == f"openai:{server.base_url}#tiny-model"
        assert backend.chat([ask("hello")], settings) == ["echo hello"]
    body = server.bodies[0]
    assert body["model"] == "tiny-model"
    assert body["messages"] == ask("hello")
    assert body["max_tokens"] == 7
    assert body["temperature"] == 0.5
    assert body["top_p"] == 0.9
    assert body["seed"] == 11
    assert body["stop"] == ["\n\n"]
    assert "response_format" not in body
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert "sk-test" not in repr(backend)


def test_passes_image_parts_through(server: FakeServer) -> None:
    backend = backend_for(server)
    content = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    assert backend.chat([[{"role": "user", "content": content}]], SETTINGS) == [
        "echo describe <image>"
    ]
    assert server.bodies[0]["messages"][0]["content"] == content


def test_response_format_carries_the_json_schema(server: FakeServer) -> None:
    schema = {
        "title": "Verdict answer",
        "type": "object",
        "properties": {"verdict": {"enum": ["normal", "anomalous"]}},
        "required": ["verdict"],
    }
    backend = backend_for(server)
    backend.chat([ask("x")], GenerationSettings(json_schema=schema))
    response_format = server.bodies[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"] == schema
    assert response_format["json_schema"]["name"] == "Verdict_answer"
    assert request_body("m", ask("x"), SETTINGS).get("stop") is None


def test_batch_answers_come_back_in_order_and_concurrently(server: FakeServer) -> None:
    backend = backend_for(server, concurrency=3)
    # Later questions answer sooner, so completion order differs from request order.
    questions = [f"sleep:{0.02 * (8 - i):.2f} #{i}" for i in range(8)]
    answers = backend.chat([ask(q) for q in questions], SETTINGS)
    assert answers == [f"echo {q}" for q in questions]
    assert server.count == 8
    assert 1 < server.most_in_flight <= 3
    assert backend.chat([], SETTINGS) == []


def test_the_client_keeps_its_concurrency_bound(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted on the client: requests between sending and having read the answer."""
    backend = backend_for(server, concurrency=3)
    client = backend._http()
    lock = threading.Lock()
    state = {"now": 0, "most": 0}
    post = client.post

    def counting_post(*args: Any, **kwargs: Any) -> Any:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            return post(*args, **kwargs)
        finally:
            time.sleep(0.01)  # linger after the answer: a loose bound would show here
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(client, "post", counting_post)
    questions = [f"sleep:0.05 #{i}" for i in range(10)]
    assert backend.chat([ask(q) for q in questions], SETTINGS) == [f"echo {q}" for q in questions]
    assert 1 < state["most"] <= 3
    assert server.most_in_flight <= 3


def test_retries_5xx_and_429_with_backoff(server: FakeServer) -> None:
    server.failures = [500, 503, 429]
    backend = backend_for(server, max_retries=3, backoff_s=0.05)
    start = time.perf_counter()
    assert backend.chat([ask("finally")], SETTINGS) == ["echo finally"]
    elapsed = time.perf_counter() - start
    assert server.count == 4
    assert backend.requests == 4
    assert backend.retries == 3
    assert elapsed >= 0.05 + 0.1 + 0.2 - 0.01  # 0.05 s doubled each retry


def test_gives_up_after_max_retries(server: FakeServer) -> None:
    server.failures = [500] * 10
    backend = backend_for(server, max_retries=2)
    with pytest.raises(ModelLoadError) as caught:
        backend.chat([ask("x")], SETTINGS)
    message = str(caught.value)
    assert server.count == 3
    assert f"{server.base_url}/chat/completions" in message
    assert "status 500" in message and "3 tries" in message


def test_a_hanging_server_times_out(server: FakeServer) -> None:
    server.hang_s = 3.0
    backend = backend_for(server, timeout_s=0.2, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"did not answer within 0\.2 s in 2 tries"):
        backend.chat([ask("x")], SETTINGS)
    assert time.perf_counter() - start < 2.0
    assert server.count == 2


def test_unreachable_server_is_one_clear_sentence() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAIChatBackend(url, "m", max_retries=2, backoff_s=0.01)  # no network yet
    with pytest.raises(ModelLoadError) as caught:
        backend.chat([ask("x"), ask("y")], SETTINGS)
    assert str(caught.value) == (
        f"Cannot reach the model server at {url}: connection refused; "
        "start it or check the llm spec."
    )
    assert backend.requests >= 3  # the first conversation tried 1 + 2 times


@pytest.mark.parametrize(
    ("garbage", "needle"),
    [
        (b"<html>Bad Gateway</html>", "not JSON"),
        (b'{"object": "list", "data": []}', "without choices"),
        (b'{"choices": []}', "without choices"),
        (b'{"choices": [{"message": {"content": 3}}]}', "not text"),
    ],
)
def test_garbage_answers_name_the_url_and_are_not_retried(
    server: FakeServer, garbage: bytes, needle: str
) -> None:
    server.garbage = garbage
    backend = backend_for(server)
    with pytest.raises(VladError, match=needle) as caught:
        backend.chat([ask("x")], SETTINGS)
    assert server.base_url in str(caught.value)
    assert server.count == 1


def test_a_dropped_connection_is_retried_then_reported(server: FakeServer) -> None:
    server.garbage = b""
    server.failures = []
    backend = backend_for(server, max_retries=1)
    original = server.httpd.RequestHandlerClass

    class Dropping(original):  # type: ignore[misc, valid-type]
        def do_POST(self) -> None:
            with server.lock:
                server.bodies.append({})
            self.close_connection = True  # no answer at all

    server.httpd.RequestHandlerClass = Dropping
    with pytest.raises(ModelLoadError, match=r"dropped the connection .* in 2 tries"):
        backend.chat([ask("x")], SETTINGS)
    assert server.count == 2


def test_unsendable_messages_fail_before_any_request(server: FakeServer) -> None:
    backend = backend_for(server)
    with pytest.raises(InputError, match="cannot be sent as JSON"):
        backend.chat([ask("fine"), [{"role": "user", "content": object()}]], SETTINGS)
    assert server.count == 0


def test_missing_content_is_an_empty_answer(server: FakeServer) -> None:
    server.garbage = b'{"choices": [{"message": {"content": null}, "finish_reason": "length"}]}'
    assert backend_for(server).chat([ask("x")], SETTINGS) == [""]


def test_wrong_route_and_rejected_key(server: FakeServer) -> None:
    wrong = OpenAIChatBackend(server.base_url.removesuffix("/v1"), "m", max_retries=0)
    with pytest.raises(ModelLoadError, match=r"answered 404.*ends in /v1"):
        wrong.chat([ask("x")], SETTINGS)
    server.failures = [401]
    with pytest.raises(ModelLoadError, match=r"refused the API key.*OPENAI_API_KEY"):
        backend_for(server).chat([ask("x")], SETTINGS)
    server.failures = [400]
    with pytest.raises(VladError, match="rejected the request with status 400 \\(try again\\)"):
        backend_for(server).chat([ask("x")], SETTINGS)


def test_an_error_in_a_batch_stops_it(server: FakeServer) -> None:
    server.garbage = b"nope"
    backend = backend_for(server, concurrency=2)
    with pytest.raises(VladError, match="not JSON"):
        backend.chat([ask(str(i)) for i in range(20)], SETTINGS)
    assert server.count < 20  # requests not yet started were dropped


@pytest.mark.parametrize(
    ("args", "options", "needle"),
    [
        (("127.0.0.1:8000/v1", "m"), {}, "not an http"),
        (("http://127.0.0.1:8000/v1", ""), {}, "No model name"),
        (("http://127.0.0.1:8000/v1", "m"), {"timeout_s": 0}, "timeout"),
        (("http://127.0.0.1:8000/v1", "m"), {"max_retries": -1}, "max_retries"),
        (("http://127.0.0.1:8000/v1", "m"), {"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_settings(args: tuple[str, str], options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        OpenAIChatBackend(*args, **options)
