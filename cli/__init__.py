"""Loadout's command-line tools (installed as ``loadout_cli``): the headless runner, the request compiler and
runner, the workflow-format converter and the HTTP client. Standard library plus ``websocket-client`` only; they
work against any running ComfyUI that has the pack."""
