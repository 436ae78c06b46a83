"""The client's decoding of ComfyUI's binary websocket frames: progress text becomes a message, previews do not."""
import struct

from loadout.cli.client import binary_message


def frame(event: int, payload: bytes) -> bytes:
    return struct.pack(">I", event) + payload


def test_progress_text_becomes_a_message_with_node_and_text():
    node, text = "24".encode(), "path: offload: ok\n  streamed → é".encode()
    assert binary_message(frame(3, struct.pack(">I", len(node)) + node + text)) == {
        "type": "progress_text", "data": {"node": "24", "text": "path: offload: ok\n  streamed → é"}}
    assert binary_message(bytearray(frame(3, struct.pack(">I", 1) + b"7"))) == {
        "type": "progress_text", "data": {"node": "7", "text": ""}}


def test_previews_and_short_frames_are_not_messages():
    assert binary_message(frame(1, struct.pack(">I", 2) + b"\xff\xd8jpeg")) is None
    assert binary_message(frame(4, struct.pack(">I", 2) + b"{}")) is None
    assert binary_message(b"\x00\x00\x00\x03") is None
