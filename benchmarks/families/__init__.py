"""The benchmark families: each module's `run()` returns its measurements."""
