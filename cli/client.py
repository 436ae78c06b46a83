"""A small HTTP client for ComfyUI's API: queue a prompt, wait for it, fetch its outputs."""
from __future__ import annotations

import dataclasses
import http.client
import json
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class PromptRejected(RuntimeError):
    """/prompt answered 400: validation failed. ``.body`` holds ComfyUI's JSON (error, node_errors)."""

    def __init__(self, body: dict):
        self.body = body
        super().__init__(format_rejection(body))


class PromptFailed(RuntimeError):
    """The prompt ran and a node raised. ``.error`` holds the execution_error message (node_id, node_type, ...)."""

    def __init__(self, prompt_id: str, error: dict):
        self.prompt_id = prompt_id
        self.error = error
        super().__init__(
            f"node {error.get('node_id')} ({error.get('node_type')}) failed: "
            f"{error.get('exception_type')}: {error.get('exception_message')}"
        )


class PromptTimeout(TimeoutError):
    """The prompt was queued and the server kept answering, but it did not finish in time (a request's failure,
    unlike a socket timeout, which means the server stopped answering)."""


# A proxy's "no ComfyUI behind me" answers: the server is unavailable, not the request wrong.
UNAVAILABLE_CODES = (502, 503, 504)


def stopped_answering(error: BaseException) -> bool:
    """True when ``error`` means no answer came from the server: connection refused or reset, an HTTP or socket
    timeout, a closed or timed-out websocket, a proxy's 502/503/504. False for an answer (any other HTTP status,
    a rejected or failed prompt, a prompt that did not finish in time), for a local file error and for anything
    else."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code in UNAVAILABLE_CODES
    if isinstance(error, PromptTimeout) or (isinstance(error, OSError) and error.filename is not None):
        return False  # a prompt too slow; a local file that could not be written (it has a file name)
    if isinstance(error, (urllib.error.URLError, OSError, http.client.HTTPException)):
        return True  # OSError covers ConnectionError (refused, reset, RemoteDisconnected) and socket timeouts
    return type(error).__module__.split(".")[0] == "websocket"  # websocket-client's closed / timed-out socket


BINARY_TEXT = 3  # ComfyUI's protocol.BinaryEventTypes.TEXT: send_progress_text's frame


def binary_message(raw: bytes) -> dict | None:
    """A binary websocket frame as a message: progress text (event 3: a 4-byte node id length, the node id, UTF-8
    text, after the 4-byte event type) becomes ``{"type": "progress_text", "data": {"node", "text"}}``; previews
    and other binary events give None."""
    if len(raw) < 8 or struct.unpack(">I", raw[:4])[0] != BINARY_TEXT:
        return None
    (n,) = struct.unpack(">I", raw[4:8])
    return {"type": "progress_text", "data": {"node": bytes(raw[8:8 + n]).decode("utf-8", "replace"),
                                              "text": bytes(raw[8 + n:]).decode("utf-8", "replace")}}


def format_rejection(body: dict) -> str:
    lines = [f"{body.get('error', {}).get('message', 'prompt rejected')}: {body.get('error', {}).get('details', '')}"]
    for node_id, info in (body.get("node_errors") or {}).items():
        for err in info.get("errors", []):
            lines.append(f"  node {node_id} ({info.get('class_type')}): {err.get('message')}: {err.get('details')}")
    return "\n".join(lines)


@dataclasses.dataclass
class RunResult:
    prompt_id: str
    seconds: float
    outputs: dict  # node id -> ui output dict (images, text, ...)
    status: dict

    def cached_nodes(self) -> set[str] | None:
        """The node ids ComfyUI took from its cache for this prompt (its ``execution_cached`` status message);
        None when the server's history does not say."""
        for kind, msg in self.status.get("messages", []):
            if kind == "execution_cached":
                return {str(n) for n in msg.get("nodes", [])}
        return None

    def files(self) -> list[dict]:
        """Every file output (images, gifs, ...) as {filename, subfolder, type, node}."""
        found = []
        for node_id, out in self.outputs.items():
            for key, items in out.items():
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict) and "filename" in item:
                        found.append(dict(item, node=node_id, kind=key))
        return found


class ComfyClient:
    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _request(self, path: str, data: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        return urllib.request.urlopen(req, timeout=self.timeout)

    def get_json(self, path: str):
        with self._request(path) as r:
            return json.loads(r.read())

    def get_bytes(self, path: str) -> bytes:
        with self._request(path) as r:
            return r.read()

    def post_json(self, path: str, payload: dict):
        data = json.dumps(payload).encode()
        with self._request(path, data, {"Content-Type": "application/json"}) as r:
            body = r.read()
            return json.loads(body) if body else None

    def object_info(self) -> dict:
        return self.get_json("/object_info")

    def queue(self, prompt: dict) -> str:
        try:
            answer = self.post_json("/prompt", {"prompt": prompt, "client_id": self.client_id})
        except urllib.error.HTTPError as e:
            if e.code in UNAVAILABLE_CODES:
                raise
            body = e.read()
            try:
                raise PromptRejected(json.loads(body)) from None
            except json.JSONDecodeError:
                raise RuntimeError(f"/prompt answered {e.code}: {body[:500]!r}") from None
        if answer.get("node_errors"):
            raise PromptRejected(answer)
        return answer["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 600.0, poll: float = 0.25) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            history = self.get_json(f"/history/{prompt_id}")
            entry = history.get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                status = entry["status"]
                if status.get("status_str") == "error":
                    for kind, msg in status.get("messages", []):
                        if kind == "execution_error":
                            raise PromptFailed(prompt_id, msg)
                    raise PromptFailed(prompt_id, {"exception_message": json.dumps(status)[:2000]})
                if status.get("completed"):
                    return entry
            time.sleep(poll)
        raise PromptTimeout(f"prompt {prompt_id} did not finish within {timeout:.0f} s")

    def run(self, prompt: dict, timeout: float = 600.0) -> RunResult:
        t0 = time.time()
        prompt_id = self.queue(prompt)
        entry = self.wait(prompt_id, timeout)
        return RunResult(prompt_id, time.time() - t0, entry.get("outputs", {}), entry.get("status", {}))

    def run_with_messages(self, prompt: dict, timeout: float = 600.0, on_message=None) -> tuple[RunResult, list]:
        """Run ``prompt`` while listening on the websocket (this client's id): returns the result and every JSON
        message the server sent for it (progress, executing, executed, ...; progress text as decoded by
        ``binary_message``). ``on_message(msg)`` sees each one
        as it arrives."""
        import websocket  # noqa: PLC0415 - websocket-client: the `cli` extra (and the tests')

        ws_url = self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        ws = websocket.create_connection(f"{ws_url}/ws?clientId={self.client_id}", timeout=timeout)
        messages: list = []
        t0 = time.time()
        try:
            prompt_id = self.queue(prompt)
            while time.time() - t0 < timeout:
                raw = ws.recv()
                msg = json.loads(raw) if isinstance(raw, str) else binary_message(raw)
                if msg is None:
                    continue  # binary previews
                data = msg.get("data") or {}
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                messages.append(msg)
                if on_message is not None:
                    on_message(msg)
                if msg.get("type") in ("execution_error", "execution_interrupted"):
                    break
                if msg.get("type") == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                    break
                if msg.get("type") == "execution_success":
                    break
        finally:
            ws.close()
        entry = self.wait(prompt_id, max(1.0, timeout - (time.time() - t0)))
        return RunResult(prompt_id, time.time() - t0, entry.get("outputs", {}), entry.get("status", {})), messages

    def fetch(self, file: dict) -> bytes:
        query = urllib.parse.urlencode({k: file.get(k, "") for k in ("filename", "subfolder", "type")})
        return self.get_bytes("/view?" + query)
