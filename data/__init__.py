"""Bundled example data (shipped inside the wheel as reportgen.data)."""
