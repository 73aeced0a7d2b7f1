"""srd — station de réception directe: SPOT 6/7-class direct-reception ground processing.

The top-level package holds only what every stage shares and nothing stage-specific:
the typed errors (:mod:`srd.errors`), time scales (:mod:`srd.timescale`) and the CLI
(:mod:`srd.cli`, which imports stages lazily; no stage imports it).
"""
__version__ = "0.1.0"
