"""Coverage-guided fuzz targets (atheris), run by `make fuzz`; `make test`
runs each briefly so that they keep working."""
