"""``python -m pdca``: the same as the ``pdca`` command."""

from pdca.cli import main

main()
