"""The Test set panel: a model's answers on the test digits, its mistakes and its confusions."""
