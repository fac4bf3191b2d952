"""The sources of prices: simulation and replay, update timing, quotes, daily-price files and
their calibration. ``ticker.feed`` turns them into published batches."""
