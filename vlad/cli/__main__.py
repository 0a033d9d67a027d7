"""``python -m vlad.cli``: the ``vlad`` command (run by ``accelerate launch -m vlad.cli``)."""

from vlad.cli.main import main

raise SystemExit(main())
