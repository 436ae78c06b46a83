"""Pure logic that is neither VRAM management nor an annotator: LoRA stacks, ControlNet stacks, schedules, and the
shared mechanisms (cache, safe names, OOM recognition, units, config). Never imports ComfyUI."""
