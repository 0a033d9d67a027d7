"""Tests of vlad.metrics submodules."""
