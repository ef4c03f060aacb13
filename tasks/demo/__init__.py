"""The offline demo task: a few drawn pictures, a small KB, and stand-ins for the hub checkpoints."""
