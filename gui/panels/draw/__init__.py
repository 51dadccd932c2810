"""The Draw panel: draw a digit and watch the lecture's CNN (and LeNet-5) read it; train them."""
