"""Python clients of the transports, for the conformance tests and for benchmarks."""
