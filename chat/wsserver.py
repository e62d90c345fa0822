"""uvicorn's websockets-sansio protocol plus a synchronous writer of frames built once for many sockets.

A pushed message goes to every socket of its room on this replica, as the same bytes: a server's frames are
not masked (RFC 6455 5.1) and the replica negotiates no extension (per-message deflate is off), so the frame
``text_frame`` serialises once is valid on each of them. ``write_frame`` hands those bytes straight to the
socket's transport, instead of one trip per socket through Starlette's and uvicorn's ``send`` (a task wake,
two wrappers, a frame serialised again): the hot path of the fan-out.

The app finds the writer in the ASGI scope, ``scope["extensions"][EXTENSION]``; under another server it is
absent and the app sends through ASGI as usual. ``write_frame`` answers False, having written nothing, when
the frame cannot go now (the handshake is not done, a close was sent or received, the transport's buffer is
above its high-water mark, an extension was negotiated): the caller then sends through ASGI, which waits for
the buffer to drain or raises that the client has gone.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

__all__ = ["EXTENSION", "ChatWebSocketProtocol", "text_frame"]

EXTENSION = "chat.write_frame"
"""Key of the frame writer (``(bytes) -> bool``) in the ASGI scope's ``extensions``."""


def text_frame(payload: bytes) -> bytes:
    """A whole, unmasked text frame of the UTF-8 ``payload`` (websockets' own serialiser)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class ChatWebSocketProtocol(WebSocketsSansIOProtocol):
    """``uvicorn.Config(ws=ChatWebSocketProtocol)``: websockets-sansio with ``write_frame`` in the scope."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][EXTENSION] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        """Write ``frame`` (from ``text_frame``) now; False, writing nothing, when it cannot go now."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
