"""Default limits, importable without Pillow or the engine."""

# 16k x 10k: a 150 MP medium-format frame fits with room to spare, and so does
# a typical stitched panorama; anything bigger needs --max-pixels.
DEFAULT_MAX_PIXELS = 160_000_000

# Generous: a 100 MP TIFF to AVIF takes well under a minute on one slow core.
DEFAULT_TIMEOUT = 300.0

# The HTML report's file table shows this many rows, each with a thumbnail of
# a few KB that the worker makes: enough to look through, small enough to open.
PREVIEW_LIMIT = 1000

# imgpar bench: enough images to even out their differences, few enough that
# three runs at each jobs value of 24 MP photos take about a minute on 2 cores.
BENCH_SAMPLE = 24
BENCH_REPEAT = 3
