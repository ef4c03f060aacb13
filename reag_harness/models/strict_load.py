"""Strict weight loading: a checkpoint whose parameters are missing, unexpected or of the wrong shape is an
error naming the keys, never a model that runs on randomly initialised weights after a warning.

- :func:`check_loading_info` turns the ``loading_info`` of ``from_pretrained(..., output_loading_info=True)``
  (transformers) into one :class:`WeightsMismatchError`.
- :func:`strict_from_pretrained` is ``auto_class.from_pretrained`` with that check (a shape mismatch, which
  transformers 5 raises as a bare ``RuntimeError``, is reported the same way).
- :func:`strict_transformers` is a context in which every ``from_pretrained`` of this thread is checked: for
  libraries that call transformers themselves (sentence-transformers' ``CrossEncoder`` / ``SentenceTransformer``).
- :func:`check_keys` compares two ``{key: shape}`` maps (a model's ``state_dict`` and a checkpoint's).

Known-benign differences are handled precisely, not by turning the check off: transformers already drops tied
weights and the model's own ``_keys_to_ignore_on_load_*`` patterns from ``loading_info``; :func:`check_keys`
takes an explicit ``ignore_unexpected`` list of regular expressions (e.g. old ``position_ids`` buffers).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from reag_harness.core.errors import HarnessError

SHOWN = 12  # keys named per kind in the message (the count is always given)

_STATE = threading.local()
_PATCHED = False
_PATCH_LOCK = threading.Lock()


class WeightsMismatchError(HarnessError):
    """A checkpoint's weights do not match the model built from its config; names the keys."""

    def __init__(self, source: str, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                 mismatched: Iterable[str] = (), what: str = "model") -> None:
        self.source, self.what = str(source), what
        self.missing, self.unexpected = sorted(missing), sorted(unexpected)
        self.mismatched = sorted(mismatched)
        parts = []
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected),
                            ("shape-mismatched", self.mismatched)):
            if keys:
                more = f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:SHOWN])}{more}")
        super().__init__(f"{what} {self.source!r}: the checkpoint's weights do not match the model built from its "
                         f"config ({'; '.join(parts)}); refusing to run with randomly initialised or ignored "
                         "weights (a truncated download, a renamed key or the wrong model class?)")


def _mismatch_names(items: Iterable[Any]) -> list[str]:
    out = []
    for item in items:
        if isinstance(item, (tuple, list)) and item:
            name = str(item[0])
            if len(item) >= 3:
                name += f" (checkpoint {tuple(item[1])}, model {tuple(item[2])})"
            out.append(name)
        else:
            out.append(str(item))
    return out


def check_loading_info(info: Mapping[str, Any] | Any, source: str, what: str = "model",
                       ignore_unexpected: Iterable[str] = ()) -> None:
    """Raise :class:`WeightsMismatchError` if transformers' loading info lists missing, unexpected or
    shape-mismatched keys (a ``dict`` from ``output_loading_info=True`` or a ``LoadStateDictInfo``);
    ``ignore_unexpected``: regexes of checkpoint keys the model legitimately does not hold (``re.fullmatch``)."""
    get = info.get if isinstance(info, Mapping) else (lambda k, d=None: getattr(info, k, d))
    patterns = [re.compile(p) for p in ignore_unexpected]
    missing = set(get("missing_keys", None) or ())
    unexpected = {k for k in get("unexpected_keys", None) or () if not any(p.fullmatch(k) for p in patterns)}
    mismatched = _mismatch_names(get("mismatched_keys", None) or ())
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(source, missing, unexpected, mismatched, what)


def check_keys(model: Mapping[str, tuple[int, ...]], checkpoint: Mapping[str, tuple[int, ...]], source: str,
               what: str = "model", ignore_unexpected: Iterable[str] = ()) -> None:
    """Compare ``{key: shape}`` of a model and of a checkpoint; ``ignore_unexpected`` are regexes of
    checkpoint keys the model legitimately does not hold (matched with ``re.fullmatch``)."""
    patterns = [re.compile(p) for p in ignore_unexpected]
    missing = [k for k in model if k not in checkpoint]
    unexpected = [k for k in checkpoint if k not in model and not any(p.fullmatch(k) for p in patterns)]
    mismatched = [f"{k} (checkpoint {tuple(checkpoint[k])}, model {tuple(model[k])})"
                  for k in model if k in checkpoint and tuple(model[k]) != tuple(checkpoint[k])]
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(source, missing, unexpected, mismatched, what)


def _shape_error(exc: RuntimeError, source: str, what: str) -> WeightsMismatchError | None:
    """transformers 5 raises a shape mismatch as ``RuntimeError`` after logging the keys; name them."""
    text = str(exc)
    if "ignore_mismatched_sizes" not in text and "size mismatch" not in text:
        return None
    keys = re.findall(r"size mismatch for ([\w.]+)", text)
    return WeightsMismatchError(source, mismatched=keys or ["(see the load report above)"], what=what)


def strict_from_pretrained(auto_class: Any, source: str, what: str = "model", ignore_unexpected: Iterable[str] = (),
                           **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(source, **kwargs)`` that fails on missing / unexpected / mismatched keys."""
    try:
        with strict_transformers(what, ignore_unexpected):
            model, info = auto_class.from_pretrained(source, output_loading_info=True, **kwargs)
    except RuntimeError as exc:
        err = _shape_error(exc, source, what)
        if err is None:
            raise
        raise err from exc
    check_loading_info(info, source, what, ignore_unexpected)
    return model


def _install_hook() -> None:
    """Wrap transformers' load report (called by every ``from_pretrained``) once, per-thread opt-in."""
    global _PATCHED
    with _PATCH_LOCK:
        if _PATCHED:
            return
        import transformers.modeling_utils as mu

        original = mu.log_state_dict_report

        def report(*args: Any, **kwargs: Any) -> Any:
            strict = getattr(_STATE, "what", None)
            info = kwargs.get("loading_info")
            if strict is not None and info is not None:
                source = str(kwargs.get("pretrained_model_name_or_path", "?"))
                if getattr(info, "error_msgs", None):
                    return original(*args, **kwargs)  # transformers raises these itself
                check_loading_info(info, source, strict, getattr(_STATE, "ignore", ()))
            return original(*args, **kwargs)

        mu.log_state_dict_report = report
        _PATCHED = True


@contextlib.contextmanager
def strict_transformers(what: str = "model", ignore_unexpected: Iterable[str] = ()) -> Iterator[None]:
    """Within this context every transformers ``from_pretrained`` of this thread fails on missing,
    unexpected or shape-mismatched keys (for libraries that call transformers themselves)."""
    _install_hook()
    previous = getattr(_STATE, "what", None), getattr(_STATE, "ignore", ())
    _STATE.what, _STATE.ignore = what, tuple(ignore_unexpected)
    try:
        yield
    finally:
        _STATE.what, _STATE.ignore = previous
