"""The simulated broker (see docs/fill-model.md)."""

from tektii_engine.broker.broker import Broker
from tektii_engine.broker.models import BrokerError, ClosedTrade, Fill, Order, Position

__all__ = ["Broker", "BrokerError", "ClosedTrade", "Fill", "Order", "Position"]
