import sys

from cnop.data.cli import main

sys.exit(main())
