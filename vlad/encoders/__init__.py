"""Encoders: CLIP image and text towers, sentence embedders for captions."""
