"""An OpenAI-compatible Chat Completions client, shared by the ``openai`` generator and critic.

Works with any server speaking the protocol (vLLM ``serve``, SGLang, TGI, llama.cpp server,
Ollama, hosted APIs) through the official ``openai`` client:

* the key is read from the environment variable named by ``api_key_env`` when the first
  request is made; it is never stored on the component, in its arguments or identity, so it
  cannot reach results, logs, cache keys or the leaderboard;
* images (file paths in our chat messages) are sent as base64 ``data:`` URLs, resized so that
  ``width * height <= max_pixels`` (aspect ratio kept);
* at most ``max_concurrency`` requests are in flight; each has a ``timeout`` (seconds);
* 408/409/429/5xx answers, timeouts and connection errors are retried with exponential
  backoff (``retry_backoff * 2**attempt`` seconds, or the server's ``Retry-After`` when longer),
  ``max_retries`` times; then the run stops with one line naming the server URL;
* :meth:`ChatClient.map` hands each response to a callback as soon as it arrives, in the
  calling thread, so the runner can persist it before the next one lands; a request already
  answered in this process is not sent again;
* the model id the server reports is collected in :attr:`ChatClient.served_models`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from reag_harness.errors import HarnessError, InputError, MissingDependencyError
from reag_harness.models.hf_vlm import item_image_path

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = ("", "none")  # api_key_env values meaning: the server needs no key
RETRY_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF_S = 60.0

#: Arguments that change how requests are sent, never what the server answers (not in identities).
TRANSPORT_ARGS = ("api_key_env", "max_concurrency", "timeout", "max_retries", "retry_backoff")


@dataclass(frozen=True)
class ApiSettings:
    """Where and how to send requests."""

    base_url: str = DEFAULT_BASE_URL
    model: str = ""
    api_key_env: str | None = DEFAULT_KEY_ENV
    max_concurrency: int = 8
    timeout: float = 300.0
    max_retries: int = 4
    retry_backoff: float = 0.5
    max_pixels: int = 1_003_520  # 1280 * 28 * 28

    def __post_init__(self) -> None:
        if not self.model:
            raise HarnessError("the OpenAI-compatible components need model=NAME (the server's model id)")
        if not str(self.base_url).startswith(("http://", "https://")):
            raise HarnessError(f"base_url must start with http:// or https://, got '{self.base_url}'")
        if int(self.max_concurrency) < 1 or int(self.max_retries) < 0 or float(self.timeout) <= 0:
            raise HarnessError("need max_concurrency >= 1, max_retries >= 0 and timeout > 0")
        if int(self.max_pixels) < 1:
            raise HarnessError(f"max_pixels must be positive, got {self.max_pixels}")

    @property
    def key_env(self) -> str | None:
        """The variable holding the key, or None when the server needs none (``api_key_env=none``)."""
        env = self.api_key_env
        return None if env is None or str(env).strip().lower() in NO_KEY else str(env)


def key_problems(settings: ApiSettings) -> list[str]:
    """Pre-flight: the key's environment variable is set (empty list when fine)."""
    env = settings.key_env
    if env is None or os.environ.get(env):
        return []
    return [f"environment variable {env} (the API key for {settings.base_url}) is not set: export {env}=..., "
            "name another variable with api_key_env=NAME, or pass api_key_env=none for a server without a key"]


# ---- images --------------------------------------------------------------------------------------------
_IMAGE_CACHE: OrderedDict[tuple[str, int, int, int], str] = OrderedDict()
_IMAGE_LOCK = threading.Lock()
_IMAGE_CACHE_SIZE = 64


def fit_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """``(w, h)`` scaled down (aspect kept) so that ``w * h <= max_pixels``; unchanged when it fits."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    while w * h > max_pixels:  # floor rounding can still overshoot by a row
        w, h = (w - 1, h) if w >= h else (w, h - 1)
    return w, h


def image_data_url(path: str, max_pixels: int) -> str:
    """The image as a base64 ``data:`` URL, at most ``max_pixels`` pixels.

    A JPEG or PNG that already fits is sent byte for byte; otherwise it is resized (bicubic)
    and re-encoded: JPEG quality 95 for JPEG sources, PNG for everything else. Cached per
    (path, mtime, size) so the many critic pairs of one image encode it once.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(str(path), "image file not found", field="image") from exc
    key = (str(path), st.st_mtime_ns, st.st_size, int(max_pixels))
    with _IMAGE_LOCK:
        if key in _IMAGE_CACHE:
            _IMAGE_CACHE.move_to_end(key)
            return _IMAGE_CACHE[key]
    url = _encode_image(str(path), int(max_pixels))
    with _IMAGE_LOCK:
        _IMAGE_CACHE[key] = url
        while len(_IMAGE_CACHE) > _IMAGE_CACHE_SIZE:
            _IMAGE_CACHE.popitem(last=False)
    return url


def _encode_image(path: str, max_pixels: int) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt = (im.format or "").upper()
            size = fit_size(im.width, im.height, max_pixels)
            if size == im.size and fmt in ("JPEG", "PNG"):
                with open(path, "rb") as fh:
                    data = fh.read()
            else:
                out_fmt = "JPEG" if fmt == "JPEG" else "PNG"
                rgb = im.convert("RGB").resize(size, Image.Resampling.BICUBIC)
                buf = io.BytesIO()
                rgb.save(buf, format=out_fmt, **({"quality": 95} if out_fmt == "JPEG" else {}))
                data, fmt = buf.getvalue(), out_fmt
    except FileNotFoundError as exc:
        raise InputError(path, "image file not found", field="image") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"unreadable image: {exc}", field="image") from exc
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def to_openai_messages(messages: Sequence[Mapping[str, Any]], max_pixels: int) -> list[dict[str, Any]]:
    """Our chat (Hugging Face format, image items are file paths) as Chat Completions messages."""
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if content is None or isinstance(content, str):
            out.append({"role": message["role"], "content": content or ""})
            continue
        parts: list[dict[str, Any]] = []
        for item in content:
            image = item_image_path(item)
            if image is not None:
                parts.append({"type": "image_url", "image_url": {"url": image_data_url(image, max_pixels)}})
            elif item.get("type") == "text":
                parts.append({"type": "text", "text": item.get("text", "")})
            else:
                raise InputError("<messages>", f"unsupported content item type {item.get('type')!r}", field="type")
        out.append({"role": message["role"], "content": parts})
    return out


# ---- the client ----------------------------------------------------------------------------------------
class Cancelled(Exception):
    """A request abandoned because another one failed (never reaches the user)."""


class ChatClient:
    """Chat Completions requests with bounded concurrency, retries and one-line errors."""

    def __init__(self, settings: ApiSettings, memo_size: int = 4096) -> None:
        self.settings = settings
        self.memo_size = memo_size
        self._answered: OrderedDict[str, Any] = OrderedDict()
        self._in_flight: dict[str, threading.Event] = {}
        self.served_models: set[str] = set()
        self.requests_sent = 0
        self.retries = 0
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The ``openai.OpenAI`` client (built on first use; the key is read here, kept only by it)."""
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
        return self._client

    def _build_client(self) -> Any:
        try:
            import openai
        except ImportError as exc:
            raise MissingDependencyError("the OpenAI-compatible components need the Python package 'openai': "
                                         "pip install 'reag-harness[api]'") from exc
        env = self.settings.key_env
        key = os.environ.get(env, "") if env else ""
        if env and not key:
            raise HarnessError(key_problems(self.settings)[0])
        return openai.OpenAI(base_url=self.settings.base_url, api_key=key or "no-key",
                             timeout=float(self.settings.timeout), max_retries=0)

    def create(self, body: Mapping[str, Any], cancel: threading.Event | None = None) -> Any:
        """One ``chat.completions.create`` call with retries; HarnessError (one line) when it fails."""
        import openai

        client = self.client()
        s = self.settings
        params = {k: v for k, v in body.items() if k != "extra_body"}
        attempt = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            with self._lock:
                self.requests_sent += 1
            try:
                response = client.chat.completions.create(**params, extra_body=body.get("extra_body"))
            except openai.APIStatusError as exc:
                status = exc.status_code
                retryable = status in RETRY_STATUS or status >= 500
                problem = f"HTTP {status}: {_status_message(exc)}"
                delay = _retry_after(exc)
            except openai.APITimeoutError:
                retryable, problem, delay = True, f"no answer within timeout={s.timeout:g}s", None
            except openai.APIConnectionError as exc:
                retryable, problem, delay = True, f"cannot connect ({_cause(exc)})", None
            else:
                if getattr(response, "model", None):
                    with self._lock:
                        self.served_models.add(str(response.model))
                return response
            if not retryable or attempt >= int(s.max_retries):
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise HarnessError(self.redact(f"OpenAI-compatible server at {s.base_url}: {problem}{tries}"))
            backoff = min(float(s.retry_backoff) * 2 ** attempt, MAX_BACKOFF_S)
            wait_s = max(backoff, min(delay, MAX_BACKOFF_S)) if delay else backoff
            attempt += 1
            with self._lock:
                self.retries += 1
            if cancel is not None:
                if cancel.wait(wait_s):
                    raise Cancelled()
            else:
                time.sleep(wait_s)

    def redact(self, text: str) -> str:
        """``text`` with the key replaced by ``***`` (a server may echo it in an error message)."""
        env = self.settings.key_env
        key = os.environ.get(env, "") if env else ""
        return text.replace(key, "***") if len(key) >= 4 else text

    def map(self, n: int, body: Callable[[int], Mapping[str, Any]], parse: Callable[[int, Any], Any],
            on_result: Callable[[int, Any], None]) -> None:
        """Send the requests ``body(0..n-1)``, at most ``max_concurrency`` at a time.

        Each response becomes ``parse(i, response)`` in its worker thread; ``on_result(i, value)``
        runs in the calling thread as each value arrives (completion order). Bodies are built
        in the workers (images are encoded lazily). A body already answered in this process
        (a duplicate, or a retry of a batch after ``--on-error skip`` split it) is answered from
        memory instead of being sent again. The first failure cancels what has not started
        and is raised.
        """
        if n <= 0:
            return
        cancel = threading.Event()

        def one(i: int) -> Any:
            b = body(i)
            key = hashlib.sha256(json.dumps(b, sort_keys=True, default=str).encode()).hexdigest()
            while True:
                with self._lock:
                    if key in self._answered:
                        self._answered.move_to_end(key)
                        return self._answered[key]
                    in_flight = self._in_flight.get(key)
                    if in_flight is None:
                        in_flight = self._in_flight[key] = threading.Event()
                        break
                in_flight.wait()  # the same body is on its way: wait for its answer
            try:
                value = parse(i, self.create(b, cancel))
                with self._lock:
                    self._answered[key] = value
                    while len(self._answered) > self.memo_size:
                        self._answered.popitem(last=False)
                return value
            finally:
                with self._lock:
                    self._in_flight.pop(key, None)
                in_flight.set()

        workers = min(int(self.settings.max_concurrency), n)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-api")
        pending: dict[Future[Any], int] = {}
        try:
            for i in range(n):
                pending[pool.submit(one, i)] = i
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: pending[f]):
                    i = pending.pop(fut)
                    on_result(i, fut.result())
        finally:
            cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, Mapping) else err
        if msg:
            return " ".join(str(msg).split())[:300]
    return " ".join(str(getattr(exc, "message", exc)).split())[:300]


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _cause(exc: BaseException) -> str:
    """The innermost cause's message (e.g. 'Connection refused'), on one line."""
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner) or type(inner).__name__
    return " ".join(text.split())[:200]


@dataclass(frozen=True)
class Answer:
    """The first choice of a response. ``stop_reason`` is vLLM's extension (the matched stop
    string, a token id, or None at end of sequence); ``reports_stop_reason`` says whether the
    server sends that field at all (OpenAI does not)."""

    text: str
    finish_reason: str | None
    stop_reason: Any
    reports_stop_reason: bool


def first_answer(response: Any) -> Answer:
    """The :class:`Answer` of a Chat Completions response."""
    if not getattr(response, "choices", None):
        raise HarnessError("OpenAI-compatible server answered without choices")
    choice = response.choices[0]
    text = choice.message.content if choice.message is not None else None
    extra = getattr(choice, "model_extra", None) or {}
    return Answer(text or "", choice.finish_reason, extra.get("stop_reason"), "stop_reason" in extra)


# ---- what the generator and the critic share -------------------------------------------------------
class OpenAIComponent:
    """Mixin for components over :class:`ChatClient`: settings, identity, pre-flight, served model.

    Subclasses are :class:`~reag_harness.interfaces.Component` s; they call :meth:`setup_api`.
    ``identity()`` leaves out :data:`TRANSPORT_ARGS` (and the critic's selection rule), never
    contains the key, and keeps ``base_url`` and ``model``: two servers may serve different
    weights under one name.
    """

    name: str
    version: str
    args: dict[str, Any]
    identity_excludes: tuple[str, ...] = TRANSPORT_ARGS
    memo_size = 4096  # answers kept in memory per process (see ChatClient.map)

    def setup_api(self, **settings: Any) -> None:
        self.settings = ApiSettings(**settings)
        self.api = ChatClient(self.settings, self.memo_size)

    def identity(self) -> dict[str, Any]:
        args = {k: v for k, v in self.args.items() if k not in self.identity_excludes}
        return {"name": self.name, "version": self.version, "args": args}

    def preflight(self) -> list[str]:
        """The ``openai`` package is installed and the API key's variable is set (no network here)."""
        missing = [] if importlib.util.find_spec("openai") else [
            "the Python package 'openai' is not installed: pip install 'reag-harness[api]'"]
        return missing + key_problems(self.settings)

    @property
    def checkpoint(self) -> str | None:
        """The model id(s) the server reported in this process (None when nothing was sent)."""
        models = sorted(self.api.served_models)
        return ", ".join(models) if models else None

    def messages(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return to_openai_messages(messages, int(self.settings.max_pixels))
