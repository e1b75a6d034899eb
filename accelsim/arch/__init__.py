"""Hardware as data: the architecture description, dataflows, energy and area tables, presets."""
