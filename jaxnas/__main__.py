"""`python -m jaxnas ...` is the same as the `jaxnas` command."""

from jaxnas.cli import main

raise SystemExit(main())
