"""Start a real ComfyUI on 127.0.0.1 and a free port; wait for /object_info; stop it by PID."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness.paths import PACK_DIR_NAME, Harness

# Log lines that mean a model or our pack did not load as it should (see shared/HARNESS.md).
FORBIDDEN_LOG_PATTERNS = (
    r"lora key not loaded",
    r"NOT LOADED",
    r"clip missing",
    r"unet missing",
    r"invalid value encountered",
    r"Cannot import .*" + re.escape(PACK_DIR_NAME),
    r"IMPORT FAILED.*" + re.escape(PACK_DIR_NAME),
)
# ComfyUI >= 0.3x prefixes each logged line with a coloured level tag ("\x1b[32m[INFO]\x1b[0m "); 0.3.75 prints the
# bare message. The import-time lines match either way (tag and ANSI colour codes optional).
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_ANSI = r"(?:\x1b\[[0-9;]*m)*"
IMPORT_TIME_RE = re.compile(
    rf"^{_ANSI}(?:\[[A-Z]+\]{_ANSI}[ \t]+)?[ \t]*([0-9.]+) seconds( \(IMPORT FAILED\))?: (.*?){_ANSI}[ \t]*$", re.M)
# Extra arguments for every server the harness starts, e.g. LOADOUT_SERVER_ARGS="--enable-dynamic-vram".
EXTRA_ARGS_ENV = "LOADOUT_SERVER_ARGS"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """One ComfyUI process. ``with ComfyServer(h, log_path) as srv: srv.url``."""

    def __init__(self, harness: Harness, log_path: Path, extra_args=(), env: dict | None = None):
        self.harness = harness
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            str(self.harness.python), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--base-directory", str(self.harness.base), "--disable-api-nodes", "--disable-auto-launch",
            *os.environ.get(EXTRA_ARGS_ENV, "").split(), *self.extra_args,
        ]

    def start(self, timeout: float = 180.0) -> "ComfyServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   DO_NOT_TRACK="1", **self.env)
        env.pop("PYTHONPATH", None)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), cwd=self.harness.comfyui, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/object_info/CheckpointLoaderSimple", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer /object_info within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def forbidden_lines(self, since: int = 0) -> list[str]:
        """Lines (after byte offset ``since``) matching FORBIDDEN_LOG_PATTERNS."""
        text = self.log_text()[since:]
        rx = re.compile("|".join(FORBIDDEN_LOG_PATTERNS))
        return [line for line in text.splitlines() if rx.search(line)]

    def import_times(self) -> dict[str, tuple[float, bool]]:
        """ComfyUI's "Import times for custom nodes" block: {folder name: (seconds, import ok)}."""
        text = self.log_text()
        start = text.find("Import times for custom nodes")
        out = {}
        if start < 0:
            return out
        for m in IMPORT_TIME_RE.finditer(text[start:]):
            out[Path(m.group(3).strip()).name] = (float(m.group(1)), m.group(2) is None)
        return out
