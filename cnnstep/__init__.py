"""cnnstep: one convolution layer of a CNN, solved exactly and step by step."""

__version__ = "0.1.0"
