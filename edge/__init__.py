"""PPT Edge: an on-device presentation-rehearsal monitor.

Frames never leave the device: the package turns camera frames into keypoints, features and
session statistics, and publishes only the statistics.
"""

__version__ = "0.1.0"
