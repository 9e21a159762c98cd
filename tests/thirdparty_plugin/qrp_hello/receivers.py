from qrp_hello import services


def greet_new_workspace(event) -> None:
    """Runs in the workspace's scope, once per event (the core records the event id)."""
    services.greet(f"Welcome to {event.data['name']}!")
