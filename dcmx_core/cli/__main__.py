"""``python -m dcmx_core.cli``: the ``dcmx`` command."""

from . import main

main()
