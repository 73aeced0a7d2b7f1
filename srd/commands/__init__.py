"""One module per ``srd`` verb; each exposes ``register(subparsers)``."""
