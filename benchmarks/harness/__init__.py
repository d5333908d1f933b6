"""The benchmark harness: measurement types, the suite runner, the report."""
