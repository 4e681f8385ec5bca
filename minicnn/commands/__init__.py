"""One module per ``minicnn`` subcommand; each defines ``HELP``, ``configure(parser)`` and
``run(args) -> int``."""
