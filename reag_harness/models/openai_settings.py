"""Settings of the OpenAI-compatible components: where and how requests go, and where the API key lives.

The key is read from the environment variable named by ``api_key_env`` when the first request
is made; it is never stored on the component, in its arguments or identity, so it cannot reach
results, logs, cache keys or the leaderboard; an argument that would carry it is refused
(:func:`refuse_secrets`). :func:`key_problems` is the pre-flight of the key's variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reag_harness.core.errors import HarnessError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = ("", "none")  # api_key_env values meaning: the server needs no key

#: Argument names that would put a key into the run's arguments (and so results and caches): refused.
SECRET_ARGS = frozenset({"api_key", "apikey", "key", "openai_api_key", "token", "access_token", "authorization",
                         "bearer", "password", "secret"})
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")


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
    images: bool = True  # False: image items are not sent (a text-only served model)
    image_check: bool = True  # before the first image is sent, check that the server reads images
    max_tokens_field: str = "max_tokens"  # or "max_completion_tokens" (newer OpenAI models)

    def __post_init__(self) -> None:
        if not self.model:
            raise HarnessError("the OpenAI-compatible components need model=NAME (the server's model id)")
        if not str(self.base_url).startswith(("http://", "https://")):
            raise HarnessError(f"base_url must start with http:// or https://, got '{self.base_url}'")
        if int(self.max_concurrency) < 1 or int(self.max_retries) < 0 or float(self.timeout) <= 0:
            raise HarnessError("need max_concurrency >= 1, max_retries >= 0 and timeout > 0")
        if int(self.max_pixels) < 1:
            raise HarnessError(f"max_pixels must be positive, got {self.max_pixels}")
        for name in ("images", "image_check"):
            if not isinstance(getattr(self, name), bool):
                raise HarnessError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.max_tokens_field not in MAX_TOKENS_FIELDS:
            raise HarnessError(f"max_tokens_field must be one of {', '.join(MAX_TOKENS_FIELDS)}, "
                               f"got {self.max_tokens_field!r}")

    @property
    def key_env(self) -> str | None:
        """The variable holding the key, or None when the server needs none (``api_key_env=none``)."""
        env = self.api_key_env
        return None if env is None or str(env).strip().lower() in NO_KEY else str(env)


def refuse_secrets(component: str, args: Mapping[str, Any], key_env: str | None) -> None:
    """HarnessError for an argument that carries a key (by its name, or by holding the key's value).

    The value is never repeated: the message names the argument and says to use ``api_key_env``.
    """
    named = sorted(k for k in args if str(k).lower().replace("-", "_") in SECRET_ARGS)
    env = None if key_env is None or str(key_env).strip().lower() in NO_KEY else str(key_env)
    key = os.environ.get(env, "") if env else ""
    if not named and len(key) >= 4:
        named = sorted(k for k, v in args.items() if key in json.dumps(v, default=str))
    if named:
        raise HarnessError(f"{component}: the argument '{named[0]}' would write an API key into the run's arguments "
                           "(results, stage cache, leaderboard), so it is refused: put the key in an environment "
                           f"variable and pass its name with api_key_env=NAME (default {DEFAULT_KEY_ENV})")


def key_problems(settings: ApiSettings) -> list[str]:
    """Pre-flight: the key's environment variable is set (empty list when fine)."""
    env = settings.key_env
    if env is None or os.environ.get(env):
        return []
    return [f"environment variable {env} (the API key for {settings.base_url}) is not set: export {env}=..., "
            "name another variable with api_key_env=NAME, or pass api_key_env=none for a server without a key"]
