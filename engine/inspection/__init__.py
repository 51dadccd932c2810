"""Looking inside a model: the one-pass activation probe, the layer table, the graph."""
