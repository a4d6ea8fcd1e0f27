"""hardhouse: render, apply and prove a hardened ClickHouse configuration."""

__version__ = "0.1.0"
