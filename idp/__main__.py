"""`python -m idp` runs the `idp` command (used by `idp dev` to start its children)."""

from .cli import main

main()
