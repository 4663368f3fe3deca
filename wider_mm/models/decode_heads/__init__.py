"""Decode heads (need mmseg)."""
