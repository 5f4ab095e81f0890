"""``python -m portable_ml.benchmarks``: run the benchmark suite (see ``--help``)."""

import argparse
import sys

from . import __doc__ as doc
from . import add_arguments, main

parser = add_arguments(argparse.ArgumentParser(prog="python -m portable_ml.benchmarks", description=doc,
                                               formatter_class=argparse.RawDescriptionHelpFormatter))
raise SystemExit(main(parser.parse_args(), reexec_argv=["-m", "portable_ml.benchmarks", *sys.argv[1:]]))
