"""Measuring the models: :mod:`.bench` (time, memory, FLOPs of models and their variants),
:mod:`.complexity` (parameter / FLOP counts of the backbone family), :mod:`.curves` (a
training run's curves) and :mod:`.report` (the one report writer and machine description of
every tool that reports numbers)."""
