"""Loadout's command-line tools (installed as ``loadout_cli``; in the repo's tests, ``loadout.cli``): the headless
runner (``loadout-run``: run_workflow), the request compiler and runner (``loadout-requests``: run_requests, over one server or many: batch), the
workflow-format converter and the HTTP client. Standard library plus (optionally) ``websocket-client`` only, with
relative imports between its modules; they work against any running ComfyUI that has the pack (``--url``)."""
