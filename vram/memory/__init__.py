"""Process and device memory: snapshots for the monitor, returning freed heap memory to the OS."""
