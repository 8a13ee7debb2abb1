import sys

from electra_lab.bench.cli import main

sys.exit(main())
