"""Dev helper: the product commands against the harness ComfyUI, started for the run when no ``--url`` is given.

    .venv/bin/python tests/harness/local_run.py run WORKFLOW.json [loadout-run options]          (`make run`)
    .venv/bin/python tests/harness/local_run.py requests REQUESTS.json [loadout-requests options]  (`make requests`)

``run`` is ``loadout-run`` (cli/run_workflow.py), ``requests`` is ``loadout-requests`` (cli/run_requests.py), called
in this process through the ``loadout`` alias (no install needed). Without ``--url`` it starts the provisioned
harness ComfyUI (tiny models, a free port; log under $LOADOUT_CACHE/logs/), passes its URL on and stops it after;
with ``--url`` (or ``-h``) it only calls the command. The exit status is the command's.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the harness package lives in tests/, never the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness  # noqa: E402,F401  (defines the ``loadout`` alias for this repo)
from harness.paths import cache_dir, harness as provisioned  # noqa: E402
from harness.server import ComfyServer  # noqa: E402
from loadout.cli import run_requests, run_workflow  # noqa: E402

COMMANDS = {  # name -> (the command's main, its message prefix, the server log's name)
    "run": (run_workflow.main, "[run]", "run-workflow-server.log"),
    "requests": (run_requests.main, "[requests]", "run-requests-server.log"),
}


def wants_server(args: list[str]) -> bool:
    """False when the command is pointed at a server (``--url X``/``--url=X``) or only asked for its help."""
    return not any(a in ("-h", "--help", "--url", "--urls-file") or a.startswith(("--url=", "--urls-file="))
                   for a in args)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(f"usage: local_run.py {{{','.join(COMMANDS)}}} ARGS...\n{__doc__}")
        return 2
    command, prefix, log_name = COMMANDS[argv[0]]
    args = argv[1:]
    if not wants_server(args):
        return command(args)
    log_path = cache_dir() / "logs" / log_name
    sys.stderr.write(f"{prefix} starting ComfyUI (log: {log_path})\n")
    with ComfyServer(provisioned(), log_path) as server:
        return command([*args, "--url", server.url])


if __name__ == "__main__":
    sys.exit(main())
