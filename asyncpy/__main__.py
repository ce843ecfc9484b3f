"""`python -m asyncpy`: the `asyncpy` command, for when the script is not
on PATH (or to pick the interpreter explicitly)."""

from asyncpy.cli import main

if __name__ == "__main__":
    main(prog_name="asyncpy")
