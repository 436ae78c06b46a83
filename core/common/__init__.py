"""One implementation of each shared mechanism: the byte-bounded LRU cache (``cache``), the safe-name guard
(``names``), the model-folder finder (``folders``), the OOM recogniser (``oom``), byte units (``units``), the
user config file (``config``) and the error format (``errors``). Never imports ComfyUI."""
