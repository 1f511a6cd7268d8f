"""Project tools run by the Makefile (tools/complexity.py: the size and complexity gate)."""
