"""Runs: typed configuration, the planned grid of fits, backends, the fit cache and the run folder."""
