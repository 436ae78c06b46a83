"""ControlNet stack logic: entry normalisation and model-folder resolution (no ComfyUI import)."""
