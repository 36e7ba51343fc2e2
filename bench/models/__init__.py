"""One module per concurrency model; see ``bench.registry`` for what a module declares."""
