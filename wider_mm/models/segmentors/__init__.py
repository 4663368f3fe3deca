"""Segmentors."""
