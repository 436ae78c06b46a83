"""ComfyUI side of the offloader: binding ``vram.offloader`` to a ModelPatcher, and the status the monitor shows."""
