import sys

from sandbox.portal.cli import main

sys.exit(main())
