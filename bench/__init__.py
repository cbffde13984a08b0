"""Benchmarks for OCR Orchestrator (see docs/benchmarks.md). Run from the repo root with .venv."""
