"""An OpenAI-compatible Chat Completions client, shared by the ``openai`` generator and critic.

Works with any server speaking the protocol (vLLM ``serve``, SGLang, TGI, llama.cpp server,
``transformers serve``, Ollama, hosted APIs); the settings and the key's handling are
:mod:`reag_harness.models.openai_settings`, the transport is :mod:`reag_harness.models.openai_client`
(raw JSON over ``httpx``, so every answer is checked by :mod:`reag_harness.models.openai_checks`):

* the key is read from the environment variable named by ``api_key_env`` when the first
  request is made; it is never stored on the component, in its arguments or identity, so it
  cannot reach results, logs, cache keys or the leaderboard; ``api_key=`` as an argument is refused;
* images (file paths in our chat messages) are sent as base64 ``data:`` URLs, resized so that
  ``width * height <= max_pixels`` (aspect ratio kept); ``images=false`` sends none (text-only
  served models); a message without images is sent as a plain string;
* at most ``max_concurrency`` requests are in flight; each has a total deadline of ``timeout`` s;
* 408/409/429/5xx answers, timeouts and connection errors are retried with exponential
  backoff (``retry_backoff * 2**attempt`` seconds, or the server's ``Retry-After`` when longer),
  ``max_retries`` times; validation errors are not; then the run stops with one line naming the
  server URL and the server's own reason;
* :meth:`ChatClient.map` hands each response to a callback as soon as it arrives, in the
  calling thread, so the runner can persist it before the next one lands; a request already
  answered in this process is not sent again;
* the model id the server reports is collected in :attr:`ChatClient.served_models`.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from reag_harness.core.errors import InputError
from reag_harness.models.hf_prompts import item_image_path
from reag_harness.models.openai_checks import Answer, first_answer  # noqa: F401  (re-exported)
from reag_harness.models.openai_client import Cancelled, ChatClient, RequestFailed  # noqa: F401  (re-exported)
from reag_harness.models.openai_probes import image_check
from reag_harness.models.openai_settings import DEFAULT_KEY_ENV, ApiSettings, key_problems, refuse_secrets

RETRY_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF_S = 60.0
#: Arguments that change how requests are sent, never what the server answers (not in identities).
TRANSPORT_ARGS = ("api_key_env", "max_concurrency", "timeout", "max_retries", "retry_backoff", "image_check")


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


def to_openai_messages(messages: Sequence[Mapping[str, Any]], max_pixels: int,
                       images: bool = True) -> list[dict[str, Any]]:
    """Our chat (Hugging Face format, image items are file paths) as Chat Completions messages.

    A message whose items are all text is sent as one plain string (the items concatenated, as
    the chat templates do): some servers (llama-cpp-python) accept nothing else for text. With
    ``images=False`` image items are left out.
    """
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
                if images:
                    parts.append({"type": "image_url", "image_url": {"url": image_data_url(image, max_pixels)}})
            elif item.get("type") == "text":
                parts.append({"type": "text", "text": item.get("text", "")})
            else:
                raise InputError("<messages>", f"unsupported content item type {item.get('type')!r}", field="type")
        if all(part["type"] == "text" for part in parts):
            out.append({"role": message["role"], "content": "".join(part["text"] for part in parts)})
        else:
            out.append({"role": message["role"], "content": parts})
    return out


def has_image(messages: Sequence[Mapping[str, Any]]) -> bool:
    """True when one of our chat messages holds an image item."""
    return any(item_image_path(item) is not None for m in messages if isinstance(m.get("content"), list)
               for item in m["content"])


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
        refuse_secrets(self.name, getattr(self, "args", {}), settings.get("api_key_env", DEFAULT_KEY_ENV))
        self.settings = ApiSettings(**settings)
        self.api = ChatClient(self.settings, self.memo_size)

    def identity(self) -> dict[str, Any]:
        args = {k: v for k, v in self.args.items() if k not in self.identity_excludes}
        return {"name": self.name, "version": self.version, "args": args}

    def preflight(self) -> list[str]:
        """The ``httpx`` package is installed and the API key's variable is set (no network here)."""
        missing = [] if importlib.util.find_spec("httpx") else [
            "the Python package 'httpx' is not installed: pip install 'reag-harness[api]'"]
        return missing + key_problems(self.settings)

    @property
    def checkpoint(self) -> str | None:
        """The model id(s) the server reported in this process (None when nothing was sent)."""
        models = sorted(self.api.served_models)
        return ", ".join(models) if models else None

    def messages(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return to_openai_messages(messages, int(self.settings.max_pixels), self.settings.images)

    def check_images(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Before the first image is sent: the server must read images (see :func:`openai_probes.image_check`)."""
        if self.settings.images and self.settings.image_check and has_image(messages):
            self.api.once("images", lambda: image_check(self.api))

    @property
    def api_deviations(self) -> list[str]:
        """What the client settings change about the prompt (images left out, server checks unverified)."""
        out = [] if self.settings.images else [
            f"{self.name}: images=false: no image was sent to the server (a text-only served model)"]
        return out + [f"{self.name}: {note}" for note in self.api.notes]
