"""The models: the zoo (inputs, outputs, model files), the lecture's digit models,
MNIST data, training."""
