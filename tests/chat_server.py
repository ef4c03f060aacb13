"""A small OpenAI-compatible Chat Completions server for the client tests (FastAPI + uvicorn).

Run as a process: ``python tests/chat_server.py`` binds 127.0.0.1 on a free port and prints
``PORT <n>`` on its first stdout line. It answers deterministically from the prompt text:

* generation: ``"server reasoning</think><answer>ans-XXXXXX</answer> trailing"`` (XXXXXX from a hash
  of the prompt), cut before the first requested stop string like real servers, with vLLM's
  ``stop_reason`` unless ``report_stop_reason`` is off;
* logprobs: ``top_logprobs`` with "Yes" at a hash-derived probability and "No", or without
  "Yes" for prompts containing ``NO-YES-MARKER``; ``logprobs_supported`` off returns none.

Control endpoints (JSON): ``POST /control/reset``, ``POST /control/config`` (``fail``: list of
HTTP statuses for the next requests, ``hang_at``: the 1-based request number that sleeps
``hang_s`` seconds, ``report_stop_reason``, ``logprobs_supported``, ``echo_key_in_errors``,
``delay_s`` per answer, ``mode``: a hostile or real-server behaviour for every later request,
see :data:`MODES`), ``GET /control/state`` (requests per prompt, images seen, bearer tokens seen,
bodies' extra fields, ``probes``: the harness's server checks, kept apart from the counts).

``usage.prompt_tokens`` is the length in characters of a ChatML rendering of the messages that
honours ``continue_final_message`` / ``add_generation_prompt`` (unless ``mode`` is
``ignore_prefix``), so the harness's prefix check sees what a real server shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import math
import socket
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

KEY = "sk-test-d41d8cd98f00b204e9800998ecf8427e"  # a made-up key; must appear in no file a run writes
NO_YES_MARKER = "NO-YES-MARKER"
PROBE_TEXT = "reag-harness server check"  # the start of the harness's probe prompts (openai_probes.PROBE_TEXT)
MODES = {
    "content_int": "message.content is the number 12345",
    "non_json": "a 200 answer whose body is HTML",
    "trickle": "a 200 JSON answer sent one byte per second",
    "logprob_nan": 'logprob of "Yes" is the string "NaN"',
    "logprob_pos": "logprob of Yes is +5",
    "echo_key": "the answer quotes the bearer token",
    "key_long_error": "HTTP 401 whose message is 400 characters ending in the bearer token",
    "detail_422": "HTTP 422 with FastAPI's {detail: ...} naming the prefix fields",
    "validation_500": "HTTP 500 whose body lists validation errors (llama-cpp-python with list content)",
    "stop_500": "HTTP 500 'Internal Server Error' (plain text) for any request with stop (transformers serve)",
    "ignore_prefix": "continue_final_message / add_generation_prompt are ignored (llama-cpp-python)",
    "text_only": "image parts are dropped without a word (a text-only model)",
    "reasoning": "a reasoning parser: the text before </think> comes back as reasoning_content",
    "no_usage": "no usage in answers",
    "vllm_text": "HTTP 400 'not a multimodal model' for any request with an image (vLLM serving a text model)",
}


def has_image_part(messages: list[dict[str, Any]]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in messages)


def fresh_state() -> dict[str, Any]:
    return {"counts": {}, "total": 0, "fail": [], "hang_at": None, "hang_s": 600.0, "report_stop_reason": True,
            "logprobs_supported": True, "echo_key_in_errors": False, "delay_s": 0.0, "images": [], "tokens": [],
            "continued": 0, "stops": [], "answered": {}, "mode": None, "probes": [], "bodies": []}


STATE = fresh_state()
app = FastAPI()


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (unique per sample / per critic pair)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
    return ""


def image_facts(messages: list[dict[str, Any]], strict: bool = True) -> list[dict[str, Any]]:
    from PIL import Image

    facts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            continue
        for part in content:
            if part.get("type") == "image_url":
                url = part["image_url"]["url"]
                fact: dict[str, Any] = {"prefix": url[:22], "data_url": url.startswith("data:image/")}
                if fact["data_url"]:
                    raw = base64.b64decode(url.split(",", 1)[1])
                    try:
                        with Image.open(io.BytesIO(raw)) as im:
                            fact["size"] = list(im.size)
                    except OSError:
                        if strict:
                            raise
                facts.append(fact)
    return facts


def render(body: dict[str, Any], honour_prefix: bool = True) -> str:
    """A ChatML rendering of the request's messages (image parts as one placeholder each)."""
    out = []
    for m in body["messages"]:
        content = m.get("content")
        text = content if isinstance(content, str) else "".join(
            p.get("text", "") if p.get("type") == "text" else "<|image|>" for p in content or [])
        out.append(f"<|im_start|>{m['role']}\n{text}<|im_end|>\n")
    if honour_prefix and body.get("continue_final_message"):
        out[-1] = out[-1].removesuffix("<|im_end|>\n")
    elif not honour_prefix or body.get("add_generation_prompt", True):
        out.append("<|im_start|>assistant\n")
    return "".join(out)


async def trickle(data: bytes):
    for i in range(len(data)):
        yield data[i:i + 1]
        await asyncio.sleep(1.0)


def hostile(mode: str, body: dict[str, Any], token: str) -> Any:
    """The answer of a hostile mode that replaces the whole response, or None."""
    from fastapi.responses import PlainTextResponse, StreamingResponse

    if mode == "non_json":
        return PlainTextResponse("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
    if mode == "key_long_error":
        return JSONResponse({"error": {"message": "x" * 275 + f" key {token} is invalid", "type": "auth"}},
                            status_code=401)
    if mode == "detail_422":
        return JSONResponse({"detail": "Unexpected fields in the request: {'continue_final_message', "
                                       "'add_generation_prompt'}"}, status_code=422)
    if mode == "validation_500":
        return JSONResponse({"error": {"message": "10 validation errors: messages.0.content: Input should be a "
                                                  "valid string", "type": "internal_server_error"}}, status_code=500)
    if mode == "stop_500" and body.get("stop"):
        return PlainTextResponse("Internal Server Error", status_code=500)
    if mode == "trickle":
        return StreamingResponse(trickle(b'{"choices": [{"index": 0, "message": {"content": "late"}}]}'),
                                 media_type="application/json")
    return None


def digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


@app.post("/v1/chat/completions")
async def chat(request: Request) -> JSONResponse:
    body = await request.json()
    messages = body["messages"]
    key = prompt_key(messages)
    mode = STATE["mode"]
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if mode == "vllm_text" and has_image_part(messages):
        return JSONResponse({"error": {"message": "tiny-llama is not a multimodal model", "type": "BadRequestError"}},
                            status_code=400)
    if key.startswith(PROBE_TEXT):  # the harness's server checks: answered, but kept out of the counts
        STATE["probes"].append({k: v for k, v in body.items() if k != "messages"})
        if any(f.get("data_url") is False or "size" not in f for f in image_facts(messages, strict=False)) \
                and mode != "text_only":
            return JSONResponse({"error": {"message": "cannot decode the image", "type": "invalid"}}, status_code=400)
        usage = None if mode == "no_usage" else len(render(body, mode != "ignore_prefix"))
        return JSONResponse({"id": "probe", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes"},
                                          "finish_reason": "length"}],
                             **({"usage": {"prompt_tokens": usage, "completion_tokens": 1}} if usage else {})})
    STATE["bodies"].append({k: v for k, v in body.items() if k != "messages"})
    if mode == "text_only":
        for m in messages:
            if isinstance(m.get("content"), list):
                m["content"] = [p for p in m["content"] if p.get("type") != "image_url"]
    STATE["total"] += 1
    number = STATE["total"]
    STATE["counts"][key] = STATE["counts"].get(key, 0) + 1
    STATE["tokens"].append(request.headers.get("authorization", ""))
    STATE["images"].extend(image_facts(messages))
    status = STATE["fail"].pop(0) if STATE["fail"] else None  # None in the list: answer normally
    replaced = hostile(mode, body, token) if mode and status is None else None
    if replaced is not None:
        return replaced
    if status is not None:
        message = f"simulated {status}"
        if STATE["echo_key_in_errors"]:  # like servers that quote the rejected key
            message += f": key {request.headers.get('authorization', '').removeprefix('Bearer ')} rejected"
        return JSONResponse({"error": {"message": message, "type": "test"}}, status_code=status,
                            headers={"retry-after": "0"})
    if STATE["delay_s"]:  # every answer takes this long (benchmarks: a server's latency)
        await asyncio.sleep(float(STATE["delay_s"]))
    if STATE["hang_at"] is not None and number == STATE["hang_at"]:
        STATE["hanging"] = key
        await asyncio.sleep(float(STATE["hang_s"]))
    h = digest(key)
    choice: dict[str, Any] = {"index": 0, "logprobs": None}
    if body.get("logprobs"):
        p_yes = 0.05 + (h % 1000) / 1000 * 0.9
        top = [{"token": "No", "logprob": math.log(1 - p_yes), "bytes": None}]
        if NO_YES_MARKER not in key:
            top.append({"token": "Yes", "logprob": math.log(p_yes), "bytes": None})
        else:
            top.append({"token": "Maybe", "logprob": math.log(p_yes), "bytes": None})
        top.sort(key=lambda t: -t["logprob"])
        top = top[: int(body.get("top_logprobs") or 0) or 1]
        text = top[0]["token"]
        if mode in ("logprob_nan", "logprob_pos"):
            for t in top:
                if t["token"] == "Yes":
                    t["logprob"] = "NaN" if mode == "logprob_nan" else 5.0
        if STATE["logprobs_supported"]:
            choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
        finish, stop_reason = "length", None
    else:
        last = messages[-1]
        if last.get("role") == "assistant":
            STATE["continued"] += 1
        text = f"server reasoning</think><answer>ans-{h % 16**6:06x}</answer> trailing"
        finish, stop_reason = "stop", None
        stops = body.get("stop") or []
        STATE["stops"].append(stops)
        cuts = [(text.find(s), s) for s in stops if s in text]
        if cuts:
            at, stop_reason = min(cuts)
            text = text[:at]
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if mode == "content_int":
        message["content"] = 12345
    elif mode == "echo_key":
        message["content"] = f"my instructions include the key {token}: " + text
    elif mode == "reasoning" and "</think>" in text:
        message["reasoning_content"], message["content"] = text.split("</think>", 1)
    choice.update({"message": message, "finish_reason": finish})
    if STATE["report_stop_reason"]:
        choice["stop_reason"] = stop_reason
    STATE["answered"][key] = STATE["answered"].get(key, 0) + 1
    usage = {"prompt_tokens": len(render(body, mode != "ignore_prefix")), "completion_tokens": 1}
    return JSONResponse({
        "id": f"chatcmpl-{number}", "object": "chat.completion", "created": 0,
        "model": f"served/{body['model']}", "choices": [choice], **({} if mode == "no_usage" else {"usage": usage}),
    })


@app.post("/control/reset")
async def reset() -> dict[str, Any]:
    STATE.clear()
    STATE.update(fresh_state())
    return {"ok": True}


@app.post("/control/config")
async def configure(request: Request) -> dict[str, Any]:
    STATE.update(await request.json())
    return {"ok": True}


@app.get("/control/state")
async def state() -> dict[str, Any]:
    return dict(STATE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())


class ServerProcess:
    """The server above as a child process (for tests): ``url``, ``state()``, ``configure()``, ``reset()``."""

    def __init__(self) -> None:
        import subprocess
        import time

        self.proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"test chat server did not start (first line {line!r})")
        self.port = int(line.split()[1])
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/v1"
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.root}/control/state", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def state(self) -> dict[str, Any]:
        import httpx

        return httpx.get(f"{self.root}/control/state", timeout=10).json()

    def configure(self, **settings: Any) -> None:
        import httpx

        httpx.post(f"{self.root}/control/config", json=settings, timeout=10).raise_for_status()

    def reset(self) -> None:
        import httpx

        httpx.post(f"{self.root}/control/reset", timeout=10).raise_for_status()

    def close(self) -> None:
        self.proc.kill()  # a request may still be hanging: no graceful shutdown
        self.proc.wait(timeout=10)
