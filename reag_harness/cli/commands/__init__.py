"""The subcommands of ``reag-eval``, one module each (``configure`` adds its parser, ``run`` executes it)."""
