"""One file over HTTP(S), done right: a partial file beside the target, resumed with ``Range``, retried
with backoff, size and sha256 verified before an atomic rename.

A failed check never leaves anything at the final path; the error names the file, the expected and
the actual hash. The partial file (``NAME.part``) survives a dropped connection and a kill, so the
next attempt (or the next ``data get``) asks only for the missing bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, TextIO

from ...core.errors import HarnessError

CHUNK = 1 << 20
USER_AGENT = "reag-harness-data-get"
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class ChecksumError(HarnessError):
    """A downloaded file whose size or sha256 is not the expected one."""


class DownloadError(HarnessError):
    """Every mirror of a file failed."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class FileProgress:
    """Progress of one file: a tqdm bar on a terminal (bytes, rate, ETA), else plain lines at the start,
    at most every ``interval_s`` seconds, and at the end."""

    _lock = threading.Lock()
    _position = 0

    def __init__(self, name: str, total: int | None, done: int = 0, stream: TextIO | None = None,
                 interval_s: float = 30.0) -> None:
        self.name, self.total, self.done = name, total, done
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.t0 = self.last = time.monotonic()
        self.start_done = done
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            with FileProgress._lock:
                position, FileProgress._position = FileProgress._position, FileProgress._position + 1
            self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=name, file=self.stream,
                            position=position, leave=True, dynamic_ncols=True)
        else:
            self._line("resuming at " + human(done) if done else "starting")

    def _line(self, what: str) -> None:
        total = human(self.total) if self.total is not None else "unknown size"
        print(f"data get: {self.name}: {what} ({human(self.done)} of {total})", file=self.stream, flush=True)

    def eta(self) -> str:
        rate = (self.done - self.start_done) / max(1e-9, time.monotonic() - self.t0)
        if self.total is None or rate <= 0:
            return f"{human(rate)}/s"
        return f"{human(rate)}/s, ETA {int((self.total - self.done) / rate)} s"

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif time.monotonic() - self.last >= self.interval_s:
            self.last = time.monotonic()
            pct = f"{100 * self.done / self.total:.0f}%, " if self.total else ""
            self._line(pct + self.eta())

    def note(self, what: str) -> None:
        if self.bar is not None:
            self.bar.write(f"data get: {self.name}: {what}")
        else:
            self._line(what)

    def close(self, what: str) -> None:
        if self.bar is not None:
            self.bar.close()
        self._line(what)


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https from the manifest)


def _stream_once(url: str, part: Path, size: int | None, timeout: float, progress: FileProgress) -> bool:
    """One request: append what the server sends to ``part``. True when the file is complete."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:  # more than the file holds: not ours to resume
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return True
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset and size is None:  # nothing left past our bytes: complete
            return True
        if exc.code == 416:  # the range does not fit the server's file: start over
            part.unlink(missing_ok=True)
        raise
    with response:
        if offset and response.status != 206:  # the server ignored the range: start over
            progress.note("server ignored the Range request; downloading from the start")
            offset = 0
            progress.done = 0
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length is not None and length.isdigit() else None
        got = offset
        with open(part, "r+b" if offset else "wb") as f:
            f.seek(offset)
            f.truncate()
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                f.write(block)
                got += len(block)
                progress.update(len(block))
    if expected is not None and got < expected:
        raise ConnectionError(f"connection closed after {got} of {expected} bytes")
    return expected is not None or size is None or got == size


def fetch(urls: list[str], target: Path, size: int | None, sha256: str | None, *, retries: int = 5,
          backoff_s: float = 1.0, timeout: float = 60.0, stream: TextIO | None = None,
          interval_s: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> str:
    """Download ``target`` from the first mirror that works; return its sha256.

    Streams into ``target.part`` (resumed with ``Range`` after a drop, a retry or a kill), verifies
    ``size`` and ``sha256`` (when given) and only then renames it to ``target``. On a mismatch the
    partial file is removed and :class:`ChecksumError` names the file and both hashes.
    """
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    progress = FileProgress(target.name, size, have, stream, interval_s)
    failures: list[str] = []
    for url in urls:
        attempt = 0  # failures in a row: an attempt that brought new bytes resets the count
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                if _stream_once(url, part, size, timeout, progress):
                    return _verify(part, target, size, sha256, url, progress)
                raise ConnectionError("the server sent fewer bytes than the file holds")
            except ChecksumError:
                raise
            except urllib.error.HTTPError as exc:
                failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
                if exc.code not in RETRY_STATUS and exc.code != 416:
                    break  # 403/404...: try the next mirror
            except (OSError, http.client.HTTPException) as exc:  # timeouts and dropped connections
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
            now = part.stat().st_size if part.exists() else 0
            attempt = 0 if now > before else attempt
            if attempt >= retries:
                break
            wait = backoff_s * (2 ** attempt)
            attempt += 1
            progress.note(f"{failures[-1]}; retry {attempt}/{retries} in {wait:.1f} s, resuming at {human(now)}")
            progress.done = now
            sleep(wait)
    progress.close("failed")
    raise DownloadError(f"{target.name}: download failed from every mirror (the partial file {part.name} is kept "
                        f"for a resume): " + "; ".join(failures[-3:]))


def _verify(part: Path, target: Path, size: int | None, sha256: str | None, url: str,
            progress: FileProgress) -> str:
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        progress.close("size mismatch")
        raise ChecksumError(f"{target.name}: size mismatch: expected {size} bytes, got {actual_size} (from {url}); "
                            "nothing was kept")
    actual = sha256_file(part)
    if sha256 is not None and actual != sha256:
        part.unlink()
        progress.close("checksum mismatch")
        raise ChecksumError(f"{target.name}: sha256 mismatch: expected {sha256}, actual {actual} (from {url}); "
                            "nothing was kept at the final path")
    os.replace(part, target)
    progress.close("verified" if sha256 else "done (sha256 recorded, none published)")
    return actual
