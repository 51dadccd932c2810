"""The lecture's worked examples and scenes (a panel's state as JSON): no TensorFlow."""
