"""level1 stage."""
