"""``python -m benchmarks`` from a checkout: the benchmark suite of ``portable_ml``.

The same as ``portable-ml bench``: see ``python -m benchmarks --help`` and
``benchmarks/README.md``.  The process re-executes itself with the glibc
malloc settings of :data:`benchmarks.MALLOC_ENV` when they are
missing.  ``python -m benchmarks --save benchmarks`` regenerates the
committed report (``benchmarks/results.md`` and ``results.json``).
"""

import argparse
import sys

from benchmarks import add_arguments, main

parser = add_arguments(argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter))
raise SystemExit(main(parser.parse_args(), reexec_argv=["-m", "benchmarks", *sys.argv[1:]]))
