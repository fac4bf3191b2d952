"""ticker: stream live stock prices over pluggable transports and compare them."""

__version__ = "0.1.0"
