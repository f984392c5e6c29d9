"""Photos attached to events (处置 reports): checked by their bytes, stored on disk."""
