"""``python -m cnnstep``: the command line."""

from cnnstep.cli import main

if __name__ == "__main__":
    main()
