"""Per-frame analysis: pose, face, emotion and the features computed from them (the flow of DESIGN.md)."""
