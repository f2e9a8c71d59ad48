"""Speed benchmarks: each prints ratios against a reference measured in the same run, never a timed assertion."""
