"""Classification heads (need mmpretrain)."""
