"""Test/demo harness for Loadout: locating the provisioned ComfyUI, running it, talking to it over HTTP.

Used by tests/, scripts/demo.py and bench/. Never imported by the pack itself.
"""
