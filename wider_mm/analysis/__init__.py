"""Measuring the models: :mod:`.bench` (time, memory, FLOPs of models and their variants),
:mod:`.complexity` (parameter / FLOP counts of the backbone family) and :mod:`.report` (the
one report writer and machine description of every tool that reports numbers)."""
