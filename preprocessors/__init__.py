"""ControlNet preprocessors: pure numpy/cv2/torch functions, no ComfyUI import (unit-testable alone)."""
