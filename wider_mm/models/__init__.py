"""Models: the backbone (importable without mmseg) and the paper's decode head."""
