"""The dashboards' kernel websocket (``/api/kernels/<kernel>/channels``), hardened against hostile frames.

Voilà 0.5.13 and jupyter_server 2.21 read the first 8 bytes of a websocket frame as a count and build
a list that long on the event loop (``read_header_from_binary_message``, ``deserialize_msg_from_ws_v1``):
one frame freezes the server and fills its memory (docs/security/voila-websocket.md). This handler:

- refuses, before the upgrade, any connection that does not offer the ``v1.kernel.websocket.jupyter.org``
  subprotocol (the legacy protocol's binary replies are what Voilà misreads), and anyone but the owner
  of the kernel (:func:`euralis_lib.serving.kernels.require_owner`);
- closes the connection and shuts the kernel down at the first frame after the login session ended (logout
  elsewhere, expiry, user disabled, password changed): an open page stops serving data;
- checks every frame from the browser with :func:`parse_frame` (offsets bounded by the frame, increasing,
  four JSON objects of bounded size, a known channel) before jupyter_server parses it: a text frame or a
  malformed frame closes the connection (code 1008) and is logged;
- reads the kernel's outgoing frames with the same bounded parser, drops ``execute_input`` (as Voilà does)
  and stderr ``stream`` messages, and replaces an ``error`` message's name, value and traceback by a
  French sentence: server paths and tracebacks stay in the server log;
- bounds frames at :data:`MAX_FRAME` bytes, :data:`MAX_UPLOAD_FRAME` on the Import page (file uploads).
"""

from __future__ import annotations

import json
import re
from typing import Any

from jupyter_core.utils import ensure_async
from tornado import web
from tornado.websocket import WebSocketProtocol13
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from euralis_lib.serving import kernels

V1 = "v1.kernel.websocket.jupyter.org"
# Frames from the browser: widget updates are small; a file sent by the Import page's FileUpload travels in
# one frame (nginx accepts 100 MB request bodies, deploy/nginx/euralis.conf).
MAX_FRAME = 10 * 1024 * 1024
MAX_UPLOAD_FRAME = 101 * 1024 * 1024
UPLOAD_PAGES = ("import.ipynb",)
# Message parts a browser frame may carry: header, parent header, metadata, content, then binary buffers.
MAX_BUFFERS = 64
MAX_JSON_PART = 1024 * 1024
CLIENT_CHANNELS = frozenset({"shell", "control", "stdin"})
ERROR_TEXT = "Erreur dans la page : le détail est dans le journal du serveur."
POLICY_VIOLATION = 1008
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in IPython tracebacks
MESSAGE_TOO_BIG = 1009


class FrameError(ValueError):
    """A websocket frame that is not a well-formed v1 kernel message."""


def frame_offsets(frame: bytes, max_parts: int | None = None) -> list[int]:
    """The offsets table of a v1 frame, checked: count within the frame (and ``max_parts`` message parts),
    first offset right after the table, offsets non-decreasing, the last one the frame's end.

    Never builds more than ``len(frame) // 8`` integers, whatever the first 8 bytes say.
    """
    if len(frame) < 16:
        raise FrameError(f"frame of {len(frame)} bytes, shorter than a v1 offsets table")
    count = int.from_bytes(frame[:8], "little")
    if count < 6 or count > (len(frame) - 8) // 8:  # channel + 4 JSON parts need 6 offsets
        raise FrameError(f"offset count {count} impossible in a frame of {len(frame)} bytes")
    if max_parts is not None and count - 2 > max_parts:
        raise FrameError(f"{count - 2} message parts, more than {max_parts}")
    table = memoryview(frame)[8:8 * (count + 1)]
    offsets = [int.from_bytes(table[8 * i:8 * (i + 1)], "little") for i in range(count)]
    if offsets[0] != 8 * (count + 1):
        raise FrameError(f"first offset {offsets[0]} is not the end of the offsets table ({8 * (count + 1)})")
    if offsets[-1] != len(frame):
        raise FrameError(f"last offset {offsets[-1]} is not the frame's end ({len(frame)})")
    if any(b < a for a, b in zip(offsets, offsets[1:], strict=False)):
        raise FrameError("offsets decrease")
    if offsets[1] == offsets[0]:
        raise FrameError("empty channel name")
    return offsets


def _json_object(part: bytes, name: str, limit: int | None) -> dict:
    if limit is not None and len(part) > limit:
        raise FrameError(f"{name} of {len(part)} bytes, more than {limit}")
    try:
        value = json.loads(part)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FrameError(f"{name} is not a JSON object")
    return value


def parse_frame(frame: bytes) -> tuple[str, dict, list[bytes]]:
    """A browser's v1 frame checked whole: (channel, header, parts); :class:`FrameError` otherwise.

    The channel is one a browser may write to, the header, parent header, metadata and content are JSON
    objects of at most :data:`MAX_JSON_PART` bytes, the header names a ``msg_type``, at most
    :data:`MAX_BUFFERS` binary buffers follow."""
    offsets = frame_offsets(frame, max_parts=4 + MAX_BUFFERS)
    try:
        channel = frame[offsets[0]:offsets[1]].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("channel name is not ASCII") from None
    if channel not in CLIENT_CHANNELS:
        raise FrameError(f"channel {channel[:20]!r} is not one of {', '.join(sorted(CLIENT_CHANNELS))}")
    parts = [frame[a:b] for a, b in zip(offsets[1:], offsets[2:], strict=False)]
    header, *_ = (_json_object(part, name, MAX_JSON_PART)
                  for part, name in zip(parts, ("header", "parent header", "metadata", "content"), strict=False))
    if not isinstance(header.get("msg_type"), str):
        raise FrameError("header without msg_type")
    return channel, header, parts


def _outgoing_header(frame: bytes) -> tuple[list[int], dict]:
    """Offsets and header of a frame the kernel sends (bounded parse, any channel, any number of buffers)."""
    offsets = frame_offsets(frame)
    return offsets, _json_object(frame[offsets[1]:offsets[2]], "header", None)


def _replace_content(frame: bytes, offsets: list[int], content: dict) -> bytes:
    """``frame`` with its content part (the fourth message part) replaced, offsets recomputed."""
    parts = [frame[a:b] for a, b in zip(offsets, offsets[1:], strict=False)]  # channel, header, …, buffers
    parts[4] = json.dumps(content).encode()
    table = [8 * (len(offsets) + 1)]
    for part in parts:
        table.append(table[-1] + len(part))
    return b"".join([len(table).to_bytes(8, "little"), *(o.to_bytes(8, "little") for o in table), *parts])


def scrub_outgoing(frame: bytes) -> bytes | None:
    """What the browser may see of a kernel frame: None to drop it (``execute_input``, stderr output), an
    ``error`` message with the French :data:`ERROR_TEXT` instead of its name, value and traceback, the
    frame itself otherwise. :class:`FrameError` when it is not a v1 frame."""
    offsets, header = _outgoing_header(frame)
    kind = header.get("msg_type")
    if kind == "execute_input":
        return None
    if kind == "stream":
        content = _json_object(frame[offsets[4]:offsets[5]], "content", None)
        return None if content.get("name") == "stderr" else frame
    if kind == "error":
        return _replace_content(frame, offsets, {"ename": "Erreur", "evalue": ERROR_TEXT, "traceback": []})
    return frame


def hidden_text(frame: bytes) -> str | None:
    """What :func:`scrub_outgoing` hides of a kernel frame, as plain text for the server's log: an ``error``
    message's name, value and traceback, a stderr output; None for anything else."""
    offsets, header = _outgoing_header(frame)
    if header.get("msg_type") not in {"error", "stream"}:
        return None
    content = _json_object(frame[offsets[4]:offsets[5]], "content", None)
    if header["msg_type"] == "stream":
        return str(content.get("text", "")) if content.get("name") == "stderr" else None
    lignes = [f"{content.get('ename')}: {content.get('evalue')}", *map(str, content.get("traceback") or [])]
    return ANSI.sub("", "\n".join(lignes))


def offers_v1(handler: web.RequestHandler) -> bool:
    """Whether the websocket handshake offers the v1 kernel subprotocol."""
    offered = handler.request.headers.get("Sec-WebSocket-Protocol", "")
    return V1 in (p.strip() for p in offered.split(","))


class EuralisKernelWebsocketHandler(kernels.OwnedKernelRoute, VoilaKernelWebsocketHandler):
    """Voilà's kernel websocket: owner only, v1 only, every frame checked both ways (module docstring)."""

    _refused = False

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Authentication (jupyter_server) and the kernel's owner, then the v1 subprotocol, before the upgrade."""
        await super().prepare(*args, **kwargs)
        if not self._finished and not offers_v1(self):
            self.log.warning("Kernel websocket refused (%s, kernel %s): subprotocol %s required, offered %r",
                             kernels.who(self), self.path_kwargs.get("kernel_id"), V1,
                             self.request.headers.get("Sec-WebSocket-Protocol"))
            raise web.HTTPError(400, f"the kernel websocket requires the {V1} subprotocol")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A refused handshake answers in plain text (jupyter_server's HTML error page fails under Voilà)."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Always v1 (offered: checked in :meth:`prepare`)."""
        return V1 if V1 in subprotocols else None

    @property
    def max_message_size(self) -> int:
        """:data:`MAX_UPLOAD_FRAME` on the pages that upload files, :data:`MAX_FRAME` elsewhere."""
        page = kernels.kernel_page(self.kernel_manager, self.path_kwargs.get("kernel_id", ""))
        return MAX_UPLOAD_FRAME if page and page.endswith(UPLOAD_PAGES) else MAX_FRAME

    def _refuse(self, reason: str) -> None:
        self._refused = True
        self.log.warning("Kernel websocket frame refused (%s, kernel %s): %s; connection closed",
                         kernels.who(self), self.path_kwargs.get("kernel_id"), reason)
        self.close(POLICY_VIOLATION, "trame refusée")

    async def on_message(self, message: str | bytes) -> None:
        """Pass a frame to jupyter_server only while the login session lasts and once :func:`parse_frame`
        accepted it; else close (and, the session over, shut the kernel down)."""
        if self._refused:
            return
        if await ensure_async(self.identity_provider.get_user(self)) is None:
            self._refused = True
            kernel_id = self.path_kwargs.get("kernel_id", "")
            self.log.warning("Kernel websocket closed (kernel %s): the login session ended", kernel_id)
            self.close(POLICY_VIOLATION, "session terminée")
            if kernel_id in self.kernel_manager:
                await ensure_async(self.kernel_manager.shutdown_kernel(kernel_id))
            return
        if isinstance(message, str):
            self._refuse("text frame under the v1 protocol")
            return
        try:
            parse_frame(message)
        except FrameError as exc:
            self._refuse(str(exc))
            return
        super().on_message(message)

    def write_message(self, message: bytes | str | dict[str, Any], binary: bool = False) -> Any:
        """Send a kernel frame once scrubbed (:func:`scrub_outgoing`); anything else is dropped and logged."""
        if not isinstance(message, bytes):
            self.log.warning("Non-v1 message to the browser dropped (kernel %s)", self.path_kwargs.get("kernel_id"))
            return None
        try:
            scrubbed = scrub_outgoing(message)
        except FrameError as exc:
            self.log.warning("Kernel frame to the browser dropped (kernel %s): %s",
                             self.path_kwargs.get("kernel_id"), exc)
            return None
        if scrubbed is not message:
            cache = hidden_text(message)
            if cache:
                self.log.warning("Kernel %s, hidden from the browser: %s", self.path_kwargs.get("kernel_id"),
                                 cache.rstrip()[:4000])
        if scrubbed is None:
            return None
        return super(VoilaKernelWebsocketHandler, self).write_message(scrubbed, binary=True)

    def get_websocket_protocol(self) -> WebSocketProtocol13 | None:
        """Tornado's protocol, which logs here when it closes a connection for a frame over the size limit."""
        protocol = super().get_websocket_protocol()
        if protocol is not None:
            protocol.__class__ = _SizeLoggingProtocol
        return protocol


class _SizeLoggingProtocol(WebSocketProtocol13):
    """Tornado's websocket protocol; its "message too big" close (1009) is logged with the user and kernel."""

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close; a refusal for size is logged first."""
        handler = self.handler
        if code == MESSAGE_TOO_BIG and isinstance(handler, EuralisKernelWebsocketHandler) and not handler._refused:
            handler._refused = True
            handler.log.warning("Kernel websocket frame refused (%s, kernel %s): over %s bytes; connection closed",
                                kernels.who(handler), handler.path_kwargs.get("kernel_id"), handler.max_message_size)
        super().close(code, reason)
