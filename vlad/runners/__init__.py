"""Runners: evaluation and batch work over many inputs, built on the pipeline."""
