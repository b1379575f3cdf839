"""``python -m spikelite`` (also ``torchrun … -m spikelite train …``): the command line."""

from spikelite.cli import main

if __name__ == "__main__":
    main()
