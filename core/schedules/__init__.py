"""Noise schedules, sampler presets and the auto choice: plain torch/numpy, no ComfyUI import."""
