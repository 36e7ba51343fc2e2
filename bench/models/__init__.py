"""One module per concurrency model: ``bench.spec.models`` says what a module declares, and
``bench.registry`` how the modules are found and expanded into models and variants."""
