"""Shared service infrastructure: logging, metrics, store and bus wiring; no domain rules."""
