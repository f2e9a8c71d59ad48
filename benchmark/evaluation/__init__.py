"""Evaluation: protocols (who trains, who tests), the leakage audit, metrics, speaker normalisation."""
