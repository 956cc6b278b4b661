import sys

from explorer.cli import main

if __name__ == "__main__":  # worker processes re-import the main module under another name
    sys.exit(main())
