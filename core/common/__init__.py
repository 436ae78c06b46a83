"""One implementation of each shared mechanism: the byte-bounded LRU cache, the safe-name guard, the OOM
recogniser, units and the user config file. Never imports ComfyUI."""
