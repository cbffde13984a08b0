"""Evaluation of extraction results against ground truth (SPEC §8, ADR 0080)."""
