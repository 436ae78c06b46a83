"""Loadout's stack outputs survive a peer node that extends its input in place, through a real server and re-queues.

Efficiency Nodes' Control Net Stacker (and LoRA Stacker) ``extend`` the list they receive and return it. ComfyUI
keeps a node's output object in its cache, so when only the peer's widget changes the peer runs again on the *same*
cached Loadout list. A second ComfyUI starts here with Loadout and a stand-in peer pack (``PEER_PACK``: the peer's
stacking behaviour as it is, written for this test; Efficiency Nodes itself is not installed) in its custom_nodes;
each queue changes only the peer's strength, and the stack that reaches the next node must be Loadout's entry plus
this queue's peer entry, never the entries of earlier queues.
"""
from __future__ import annotations

import json

import pytest
from harness.graphs import TINY_CONTROLNET, TINY_KOHYA, TINY_SD15
from harness.paths import PACK_DIR_NAME, Harness, cache_dir, harness
from harness.server import ComfyServer

from loadout.cli.client import ComfyClient

PEER_PACK = '''"""Stand-in peer pack (test only): stackers that extend the list they receive, as Efficiency Nodes' do."""


class PeerControlNetStacker:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"control_net_stack": ("CONTROL_NET_STACK",), "image": ("IMAGE",),
                             "strength": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 10.0, "step": 0.01})}}

    RETURN_TYPES = ("CONTROL_NET_STACK",)
    FUNCTION = "stack"
    CATEGORY = "test"

    def stack(self, control_net_stack, image, strength):
        net = control_net_stack[0][0]
        control_net_stack.extend([(net, image, strength, 0.0, 1.0)])  # in place, as Efficiency's stacker does
        return (control_net_stack,)


class PeerLoraStacker:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"lora_stack": ("LORA_STACK",),
                             "strength": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 10.0, "step": 0.01})}}

    RETURN_TYPES = ("LORA_STACK",)
    FUNCTION = "stack"
    CATEGORY = "test"

    def stack(self, lora_stack, strength):
        lora_stack.extend([(lora_stack[0][0], strength, strength)])  # in place
        return (lora_stack,)


class PeerShowStrengths:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"control_net_stack": ("CONTROL_NET_STACK",), "lora_stack": ("LORA_STACK",)}}

    RETURN_TYPES = ()
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "test"

    def show(self, control_net_stack, lora_stack):
        import json
        text = json.dumps({"cn": [float(e[2]) for e in control_net_stack], "lora": [float(e[1]) for e in lora_stack]})
        return {"ui": {"text": [text]}}


NODE_CLASS_MAPPINGS = {"PeerControlNetStacker": PeerControlNetStacker, "PeerLoraStacker": PeerLoraStacker,
                       "PeerShowStrengths": PeerShowStrengths}
'''


def peer_harness(h: Harness, base) -> Harness:
    """A base directory like the harness's (same models and inputs) whose custom_nodes hold Loadout and the peer."""
    for sub in ("models", "input"):
        (base / sub).symlink_to(h.base / sub)
    for sub in ("output", "user", "temp"):
        (base / sub).mkdir()
    nodes = base / "custom_nodes"
    nodes.mkdir()
    (nodes / PACK_DIR_NAME).symlink_to((h.base / "custom_nodes" / PACK_DIR_NAME).resolve())
    (nodes / "peer_extender").mkdir()
    (nodes / "peer_extender" / "__init__.py").write_text(PEER_PACK)
    return Harness(h.comfyui, base, h.python, h.comfy_cli_config)


def graph(peer_strength: float) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "loadout_grace_hopper.jpg"}},
        "3": {"class_type": "LoadoutControlNetStack", "inputs": {
            "control_net_name": TINY_CONTROLNET, "image": ["2", 0], "strength": 0.8, "start_percent": 0.0,
            "end_percent": 1.0, "enabled": True}},
        "4": {"class_type": "PeerControlNetStacker", "inputs": {"control_net_stack": ["3", 0], "image": ["2", 0],
                                                                "strength": peer_strength}},
        "5": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": TINY_KOHYA, "model_strength": 0.7,
                                                           "clip_strength": 0.5, "enabled": True, "category": ""}},
        "6": {"class_type": "PeerLoraStacker", "inputs": {"lora_stack": ["5", 0], "strength": peer_strength}},
        "7": {"class_type": "PeerShowStrengths", "inputs": {"control_net_stack": ["4", 0], "lora_stack": ["6", 0]}},
        "8": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["1", 1]}},
        "9": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "10": {"class_type": "LoadoutApplyControlNetStack", "inputs": {"positive": ["8", 0], "negative": ["9", 0],
                                                                       "control_net_stack": ["4", 0]}},
        "11": {"class_type": "LoadoutApplyLoraStack", "inputs": {"model": ["1", 0], "clip": ["1", 1],
                                                                 "lora_stack": ["6", 0], "multiplier": 1.0,
                                                                 "on_missing": "error"}},
        "12": {"class_type": "PreviewAny", "inputs": {"source": ["10", 2]}},
        "13": {"class_type": "PreviewAny", "inputs": {"source": ["11", 2]}},
    }


@pytest.fixture(scope="module")
def peer_server(tmp_path_factory):
    h = peer_harness(harness(), tmp_path_factory.mktemp("peer-base"))
    server = ComfyServer(h, cache_dir() / "logs" / "peer-extender-server.log")
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def test_loadout_stacks_stay_as_made_when_a_peer_extends_them_on_every_requeue(peer_server):
    client = ComfyClient(peer_server.url)
    start = len(peer_server.log_path.read_bytes())  # core's own start-up import errors (no torchaudio) before this
    for k in range(1, 5):  # four queues; only the peer's strength changes, so Loadout's stack nodes are cached
        strength = round(0.1 * k, 2)
        result = client.run(graph(strength), timeout=300)
        seen = json.loads(result.outputs["7"]["text"][0])
        assert seen == {"cn": [0.8, strength], "lora": [0.7, strength]}, f"queue {k}: {seen}"
        cn_report = result.outputs["12"]["text"][0]
        lora_report = "".join(result.outputs["13"]["text"])
        assert cn_report.count("strength") == 2, f"queue {k}: {cn_report}"
        assert lora_report.count(TINY_KOHYA.rsplit(".", 1)[0]) >= 2 and "[3]" not in lora_report, lora_report
        if k > 1:
            cached = result.cached_nodes()
            assert cached is None or {"3", "5"} <= cached, f"queue {k}: Loadout's stack nodes ran again: {cached}"
    assert b"Traceback" not in peer_server.log_path.read_bytes()[start:]
