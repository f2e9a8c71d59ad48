"""Leakage-aware speech emotion recognition benchmark."""
