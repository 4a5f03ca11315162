"""Fault: stays alive but never opens the WebSocket."""

import time

print("sleeping instead of connecting", flush=True)
time.sleep(600)
