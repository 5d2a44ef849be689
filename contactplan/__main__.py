"""`python -m contactplan` runs the `contactplan` command."""

import sys

from contactplan.cli import main

if __name__ == "__main__":
    sys.exit(main())
