"""ortho stage."""
