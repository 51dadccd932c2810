"""The Kernel lab: edit kernels by hand and watch the feature maps follow; why not an MLP."""
