"""Tests of the command line and everything around the static engine."""
