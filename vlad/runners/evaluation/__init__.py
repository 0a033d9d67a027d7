"""Evaluation runners: images, videos, anchors and tables."""
