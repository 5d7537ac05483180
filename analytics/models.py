"""Analytics computes over the mirror and owns no tables yet."""
