"""configuronic configs selectable from the command line (`--policy=.remote`, `--driver=.keyboard`, ...)."""
