"""Silencing other libraries: their progress bars, logging, warnings and native start-up lines on stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from typing import Iterator

QUIET = False  # set by quiet_third_party(): native libraries' start-up chatter is silenced too


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """While quiet, send file descriptor 2 to /dev/null (TensorFlow's C++ start-up lines ignore
    ``TF_CPP_MIN_LOG_LEVEL`` before absl logging is initialised); Python exceptions still propagate."""
    if not QUIET:
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_third_party() -> None:
    """Silence other libraries' progress bars, logging and warnings (``-v`` skips this)."""
    global QUIET
    QUIET = True
    for key, value in (("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_VERBOSITY", "error"),
                       ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"), ("TF_CPP_MIN_LOG_LEVEL", "3"),
                       ("TOKENIZERS_PARALLELISM", "false"), ("DATASETS_VERBOSITY", "error")):
        os.environ.setdefault(key, value)
    logging.getLogger().setLevel(logging.ERROR)
    for name in ("transformers", "huggingface_hub", "open_clip", "faiss", "datasets", "tensorflow", "absl", "vllm"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    for module, fn in (("transformers.utils.logging", "disable_progress_bar"),
                       ("huggingface_hub.utils", "disable_progress_bars")):
        if module in sys.modules:
            getattr(sys.modules[module], fn)()
