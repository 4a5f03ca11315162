"""Fault: exits immediately without connecting."""

print("nothing to do here", flush=True)
