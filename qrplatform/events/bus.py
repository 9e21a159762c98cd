"""Chooses where events go: Kafka when KAFKA_BOOTSTRAP_SERVERS is set, in-process otherwise."""

from __future__ import annotations

import logging

from flask import Flask

from qrplatform.events.dispatch import deliver, groups_for
from qrplatform.events.envelope import Event

log = logging.getLogger(__name__)


class LocalSender:
    """No broker: the relay hands each event straight to every interested consumer group."""

    name = "in-process"

    def send(self, items: list[tuple[str, Event]]) -> None:
        for _topic, event in items:
            for group in groups_for(event.type):
                deliver(event, group)

    def check(self) -> None:
        """Nothing to reach."""

    def close(self) -> None:
        pass


class EventBus:
    def __init__(self, app: Flask):
        self.app = app
        self.kafka = bool(app.config.get("KAFKA_BOOTSTRAP_SERVERS"))
        self._sender = None
        self._relay_thread = None
        # In-process relay thread for the embedded setup; tests drain explicitly instead.
        self.embedded_relay = not self.kafka and app.config.get("QRP_EVENTS_RELAY_THREAD", True)

    @property
    def sender(self):
        if self._sender is None:
            if self.kafka:
                from qrplatform.events.kafka import KafkaSender

                self._sender = KafkaSender(self.app.config)
            else:
                self._sender = LocalSender()
        return self._sender

    def wake(self) -> None:
        if not self.embedded_relay:
            return
        if self._relay_thread is None:
            from qrplatform.events.outbox import RelayThread

            self._relay_thread = RelayThread(self.app)
        self._relay_thread.wake()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None


def init_app(app: Flask) -> EventBus:
    bus = EventBus(app)
    app.extensions["qrp.events"] = bus
    return bus
