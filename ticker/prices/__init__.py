"""Where prices come from: the simulated and replayed price sources, update timing, quotes,
daily-price files and their calibration. ``ticker.feed`` turns them into published batches."""
