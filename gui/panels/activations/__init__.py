"""The Activations panel: a model's layers and maps for an input, and its tools as tabs
(explain, what a channel wants, edit the model, triage, blocks, architecture, live input)."""
