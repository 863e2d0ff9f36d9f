"""A Server-Sent Events parser (the WHATWG event-stream format): lines in, events out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    """One dispatched event: its name (``message`` when unnamed), data, and id."""

    event: str = "message"
    data: str = ""
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


@dataclass(slots=True)
class _Decoder:
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> Event | None:
        """One line (without its end of line); an event when the line is the blank one that dispatches it."""
        if not line:
            if not self._data and not self._event:
                return None
            event = Event(event=self._event or "message", data="\n".join(self._data), id=self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None  # "retry" and unknown fields are ignored


def events(lines: Iterable[str]) -> Iterator[Event]:
    """The events of a stream of lines."""
    decoder = _Decoder()
    for line in lines:
        event = decoder.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event


async def aevents(lines: AsyncIterable[str]) -> AsyncIterator[Event]:
    """The events of an async stream of lines."""
    decoder = _Decoder()
    async for line in lines:
        event = decoder.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event
