"""The trading-gateway API (REST + WebSocket) that `tektii` SDK strategies speak to the engine."""
