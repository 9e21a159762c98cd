from sqlalchemy import select

from qrp_hello.models import Greeting
from qrplatform import events
from qrplatform.extensions import db


def greetings() -> list[Greeting]:
    return list(db.session.scalars(select(Greeting).order_by(Greeting.id)))


def greet(text: str) -> Greeting:
    greeting = Greeting(text=text)
    db.session.add(greeting)
    db.session.flush()
    events.publish("hello.greeted", {"greeting_id": greeting.id})
    return greeting
