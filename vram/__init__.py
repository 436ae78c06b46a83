"""VRAM and memory management: plain torch/psutil code, no ComfyUI import (unit-testable alone)."""
