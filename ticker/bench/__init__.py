"""``ticker bench``: many headless clients per transport, measured side by side."""
