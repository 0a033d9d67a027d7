"""Media: decode images and videos, sample frames, cut segments."""
