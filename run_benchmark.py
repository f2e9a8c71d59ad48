"""Entry point: ``python run_benchmark.py`` runs the full benchmark on the built-in corpus.

See ``python run_benchmark.py --help`` and the README for the commands.
"""

import sys

from benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
