"""Developer tools (not installed on the device)."""
