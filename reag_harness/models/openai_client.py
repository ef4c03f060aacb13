"""The transport of the OpenAI-compatible components: raw JSON over ``httpx``, checked answers.

* One background event loop per :class:`ChatClient` sends the requests; each has a total deadline
  of ``timeout`` seconds (``asyncio.wait_for``), so a server trickling bytes cannot hold a request
  longer (httpx alone bounds each socket read, not the request).
* A 2xx body must be a JSON object (:func:`openai_checks.parse_body`); anything else is an error
  naming the server, never retried. An answer that contains the API key is an error too.
* An error answer's reason is read from its body (``detail``, ``error.message``, else the raw
  text), masked, put on one line and cut to 300 characters, in that order.
* 408/409/429/5xx, timeouts and connection errors are retried with backoff; 4xx and 5xx whose
  reason says "validation" are not. A reason naming the assistant-prefix fields suggests
  ``prefix_mode=omit``; one about images, ``images=false``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from reag_harness.core.errors import HarnessError, MissingDependencyError
from reag_harness.models.openai_checks import AnswerError, error_detail, mask_secret, one_line, parse_body
from reag_harness.models.openai_settings import key_problems

RETRY_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF_S = 60.0
VALIDATION = re.compile(r"validat|unexpected field|extra (fields|inputs) not permitted", re.IGNORECASE)
#: ``fallback(body, status, reason)`` may return another body to try once at once (e.g. without ``stop``)
#: and a callback run when that body is answered; None to handle the failure as usual.
Fallback = Callable[[Mapping[str, Any], int, str], "tuple[Mapping[str, Any], Callable[[], None]] | None"]


class Cancelled(Exception):
    """A request abandoned because another one failed (never reaches the user)."""


class RequestFailed(HarnessError):
    """A request the server refused (``status``, its ``reason``) or that never got an answer."""

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class _NoAnswer(Exception):
    """Timeout or connection failure (retryable)."""


def hint(reason: str) -> str:
    """What to try, for reasons that name something the user can switch off."""
    low = reason.lower()
    if "continue_final_message" in low or "add_generation_prompt" in low:
        return " (the server refuses the assistant-prefix fields: pass prefix_mode=omit)"
    if "multimodal" in low or "image" in low:
        return " (if the served model is text-only, pass images=false)"
    return ""


class ChatClient:
    """Chat Completions requests with bounded concurrency, retries and one-line errors."""

    def __init__(self, settings: Any, memo_size: int = 4096) -> None:
        self.settings = settings
        self.memo_size = memo_size
        self._answered: OrderedDict[str, Any] = OrderedDict()
        self._in_flight: dict[str, threading.Event] = {}
        self.served_models: set[str] = set()
        self.requests_sent = 0
        self.retries = 0
        self.notes: list[str] = []  # facts about the server worth a deviation line (e.g. a check not possible)
        self._done_checks: set[str] = set()
        self._failed_checks: dict[str, HarnessError] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: Any = None
        self._headers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()

    @property
    def url(self) -> str:
        return str(self.settings.base_url).rstrip("/") + "/chat/completions"

    @property
    def where(self) -> str:
        return f"OpenAI-compatible server at {self.settings.base_url}"

    def secret(self) -> str | None:
        env = self.settings.key_env
        return os.environ.get(env) or None if env else None

    def redact(self, text: str) -> str:
        """``text`` with the key (and any long piece of it) replaced by ``***``."""
        return mask_secret(text, self.secret())

    # ---- sending -----------------------------------------------------------------------------------
    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                try:
                    import httpx  # noqa: F401
                except ImportError as exc:
                    raise MissingDependencyError("the OpenAI-compatible components need the Python package "
                                                 "'httpx': pip install 'reag-harness[api]'") from exc
                env = self.settings.key_env
                key = os.environ.get(env, "") if env else ""
                if env and not key:
                    raise HarnessError(key_problems(self.settings)[0])
                self._headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"}
                                                                        if key else {})}
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="openai-api-loop", daemon=True).start()
                self._loop = loop
        return self._loop

    async def _post(self, payload: bytes) -> tuple[int, str, str | None]:
        import httpx

        if self._http is None:
            n = int(self.settings.max_concurrency)
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(float(self.settings.timeout)),
                                           limits=httpx.Limits(max_connections=n + 2))
        response = await asyncio.wait_for(self._http.post(self.url, content=payload, headers=self._headers),
                                          float(self.settings.timeout))
        return response.status_code, response.text, response.headers.get("retry-after")

    def send_once(self, body: Mapping[str, Any]) -> tuple[int, str, str | None]:
        """One POST: ``(status, text, retry_after)``; :class:`_NoAnswer` on a timeout or connection failure."""
        import httpx

        try:
            payload = json.dumps(body, allow_nan=False).encode()
        except ValueError as exc:
            raise HarnessError(f"{self.where}: the request holds a non-finite number ({exc}); check --gen-kwargs") \
                from None
        future = asyncio.run_coroutine_threadsafe(self._post(payload), self._start())
        try:
            return future.result()
        except (TimeoutError, httpx.TimeoutException):
            raise _NoAnswer(f"no complete answer within timeout={float(self.settings.timeout):g}s") from None
        except httpx.ConnectError as exc:
            raise _NoAnswer(f"cannot connect ({_cause(exc)})") from None
        except httpx.HTTPError as exc:
            raise _NoAnswer(f"connection failed ({type(exc).__name__}: {_cause(exc)})") from None

    def create(self, body: Mapping[str, Any], cancel: threading.Event | None = None,
               fallback: Fallback | None = None) -> dict[str, Any]:
        """One request with retries: the answer's checked JSON object, or a one-line HarnessError."""
        s = self.settings
        attempt, fell_back = 0, False
        confirm: Callable[[], None] | None = None
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            with self._lock:
                self.requests_sent += 1
            status: int | None = None
            reason, delay = "", None
            try:
                status, text, retry_after = self.send_once(body)
            except _NoAnswer as exc:
                retryable, problem = True, str(exc)
            else:
                secret = self.secret()
                if 200 <= status < 300:
                    if secret and mask_secret(text, secret) != text:
                        raise AnswerError(f"{self.where}: the answer contains the API key (not used, not stored)")
                    data = parse_body(text, self.where)
                    if isinstance(data.get("model"), str):
                        with self._lock:
                            self.served_models.add(self.redact(data["model"]))
                    if confirm is not None:
                        confirm()
                    return data
                reason = error_detail(text)
                if fallback is not None and not fell_back:
                    alt = fallback(body, status, reason)
                    if alt is not None:
                        (body, confirm), fell_back = alt, True
                        continue
                retryable = (status in RETRY_STATUS or status >= 500) and not VALIDATION.search(reason)
                problem = f"HTTP {status}: {one_line(reason, secret)}{hint(reason)}"
                delay = _seconds(retry_after)
            if not retryable or attempt >= int(s.max_retries):
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise RequestFailed(self.redact(f"{self.where}: {problem}{tries}"), status, self.redact(reason))
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

    def once(self, name: str, check: Callable[[], None]) -> None:
        """Run a server check once per client (the first caller runs it, the others wait); a check
        that failed fails again at once (``--on-error skip`` re-runs a batch item by item)."""
        with self._check_lock:
            if name in self._failed_checks:
                raise self._failed_checks[name]
            if name not in self._done_checks:
                try:
                    check()
                except HarnessError as exc:
                    self._failed_checks[name] = exc
                    raise
                self._done_checks.add(name)

    # ---- many requests ---------------------------------------------------------------------------------
    def map(self, n: int, body: Callable[[int], Mapping[str, Any]], parse: Callable[[int, Any], Any],
            on_result: Callable[[int, Any], None], fallback: Fallback | None = None) -> None:
        """Send the requests ``body(0..n-1)``, at most ``max_concurrency`` at a time.

        Each answer becomes ``parse(i, data)`` in its worker thread (``data``: the checked JSON
        object); ``on_result(i, value)`` runs in the calling thread as each value arrives
        (completion order). Bodies are built in the workers (images are encoded lazily). A body
        already answered in this process (a duplicate, or a retry of a batch after
        ``--on-error skip`` split it) is answered from memory instead of being sent again. The
        first failure cancels what has not started and is raised, its message masked.
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
                try:
                    value = parse(i, self.create(b, cancel, fallback))
                except HarnessError as exc:
                    masked = self.redact(str(exc))
                    if masked == str(exc):
                        raise
                    raise (AnswerError if isinstance(exc, AnswerError) else RequestFailed)(masked) from None
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


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _cause(exc: BaseException) -> str:
    """The innermost cause's message (e.g. 'Connection refused'), on one line."""
    inner: BaseException = exc
    for _ in range(20):  # chains are short; a cycle must not hang the error path
        nxt = inner.__cause__ or inner.__context__
        if nxt is None:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    return " ".join(text.split())[:200]
