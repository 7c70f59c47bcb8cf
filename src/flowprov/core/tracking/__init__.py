"""Recording runs as they happen: track()/finish() for scripts and notebooks, and the Recorder
every adapter writes through."""

from flowprov.core.tracking.context import context, finish, track, track_input, track_output
from flowprov.core.tracking.recorder import Recorder, RecorderError

__all__ = ["Recorder", "RecorderError", "context", "finish", "track", "track_input", "track_output"]
