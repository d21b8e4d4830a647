"""Who a Raft connection talks to: a cluster-identity handshake on pysyncobj's TCP
transport, and the small utility requests servers send each other's Raft ports.

pysyncobj accepts any connection that names a configured peer address. Here the first
message each way also carries the cluster ID: a server whose data dir belongs to
another cluster is refused before a single Raft message is exchanged, so it can never
win an election here or overwrite a log. A server that has not yet joined a working
cluster treats a mismatch as fatal (it exits naming its data dir); members of a working
cluster only refuse the connection and log it.

Utility requests (pysyncobj's admin channel on the Raft port): ``gitorch_identity``
answers who this server is (cluster ID, leader, members, HTTP address), ``add`` and
``remove`` change membership (pysyncobj forwards them to the leader), ``transfer``
hands leadership over.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from pysyncobj.transport import TCPTransport
from pysyncobj.utility import TcpUtility, UtilityException

logger = logging.getLogger(__name__)

IDENTITY: Final = "gitorch_identity"
_HELLO: Final = "gitorch-hello"
_OK: Final = "gitorch-ok"
_REFUSED: Final = "gitorch-refused"


class Gate:
    """The cluster identity a node admits peers by.

    ``cluster_id`` is this server's (its data dir's or its replicated state's); until it
    has one, the first peer that names an ID is believed (a new server joining).
    ``describe`` is what ``gitorch_identity`` answers. ``on_fatal`` is called once with
    the message when a mismatch is found before this node was ever part of a working
    cluster (``established``)."""

    def __init__(
        self,
        addr: str,
        cluster_id: Callable[[], str],
        describe: Callable[[], dict[str, Any]],
        on_fatal: Callable[[str], None],
    ) -> None:
        self.addr = addr
        self._own = cluster_id
        self.describe = describe
        self._on_fatal = on_fatal
        self._learned = ""
        self.established = False
        self._last_warned: dict[str, float] = {}
        self._lock = threading.Lock()

    def cluster_id(self) -> str:
        return self._own() or self._learned

    def admit(self, peer: str, theirs: str) -> str | None:
        """None if ``peer`` (claiming cluster ``theirs``) may talk Raft with this node;
        otherwise why not."""
        with self._lock:
            mine = self.cluster_id()
            if not theirs or not mine:
                if theirs and not mine:
                    self._learned = theirs
                return None
            if theirs == mine:
                return None
        why = (
            f"Raft peer {peer} belongs to cluster {theirs}, but this server ({self.addr}) "
            f"belongs to cluster {mine}"
        )
        self.conflict(why)
        return why

    def conflict(self, why: str) -> None:
        if not self.established:
            self._on_fatal(why)
            return
        now = time.monotonic()
        if now - self._last_warned.get(why, -1e9) > 30:
            self._last_warned[why] = now
            logger.warning("refused a Raft connection: %s", why)


class HandshakeTransport(TCPTransport):  # type: ignore[misc]
    """pysyncobj's TCP transport; each new connection first exchanges cluster IDs.
    ``syncObj._gitorch_gate`` is the ``Gate`` (set before the transport is built)."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:
        self._gate: Gate = syncObj._gitorch_gate
        super().__init__(syncObj, selfNode, otherNodes)
        self.setOnUtilityMessageCallback(IDENTITY, self._on_identity)

    def _on_identity(self, args: list[Any], callback: Callable[[object, object], None]) -> None:
        callback(self._gate.describe(), None)

    # -- our side dialled ---------------------------------------------------------------

    def _onOutgoingConnected(self, conn: Any) -> None:
        node = self._connToNode(conn)
        if node is None or self._syncObj.encryptor:
            # encrypted: pysyncobj sends our random key; the peer's comes back below
            super()._onOutgoingConnected(conn)
            return
        self._hello(conn, node)

    def _onOutgoingMessageReceived(self, conn: Any, message: Any) -> None:
        """Encrypted only: the peer's random connection key (it decrypted and
        authenticated), after which the cluster-ID handshake runs as without a key."""
        node = self._connToNode(conn)
        if conn.sendRandKey or node is None or not isinstance(message, bytes):
            conn.disconnect()
            return
        conn.sendRandKey = message
        self._hello(conn, node)

    def _hello(self, conn: Any, node: Any) -> None:
        conn.setOnMessageReceivedCallback(functools.partial(self._on_reply, conn, node))
        conn.send((_HELLO, self._selfNode.address, self._gate.cluster_id()))

    def _on_reply(self, conn: Any, node: Any, message: Any) -> None:
        if isinstance(message, tuple) and len(message) >= 2 and message[0] in (_OK, _REFUSED):
            if self._gate.admit(node.address, str(message[1])) is None:
                if message[0] == _OK:
                    conn.setOnMessageReceivedCallback(
                        functools.partial(self._onMessageReceived, node)
                    )
                    self._onNodeConnected(node)
                    return
                logger.debug("Raft peer %s refused us: %s", node.address, message[2:])
        conn.disconnect()  # pysyncobj dials again after connectionRetryTime

    # -- the peer dialled ---------------------------------------------------------------

    def _onIncomingMessageReceived(self, conn: Any, message: Any) -> None:
        if self._syncObj.encryptor and not conn.sendRandKey:  # the dialler's random key
            super()._onIncomingMessageReceived(conn, message)
            return
        if isinstance(message, list):  # a utility request
            super()._onIncomingMessageReceived(conn, message)
            return
        if not (isinstance(message, tuple) and len(message) == 3 and message[0] == _HELLO):
            conn.disconnect()  # no handshake: not a gitorch server of this version
            self._unknownConnections.discard(conn)
            return
        _, addr, theirs = message
        mine = self._gate.cluster_id()
        why = self._gate.admit(str(addr), str(theirs))
        if why is None and addr not in self._nodeAddrToNode:
            why = f"{self._selfNode.address} does not have {addr} as a Raft peer (yet)"
        if why is not None:  # let the dialler read why, then it hangs up
            conn.send((_REFUSED, mine, why))
            conn.setOnMessageReceivedCallback(lambda _message: None)
            return
        conn.send((_OK, mine))
        super()._onIncomingMessageReceived(conn, addr)


_key: list[str | None] = [None]  # the cluster's Raft key: one Raft node per process


def use_key(password: str | None) -> None:
    """Utility requests from this process (``probe``, ``request``) use ``password``."""
    _key[0] = password


def probe(addr: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """Ask the server whose Raft port is ``addr`` who it is; None if it did not answer."""
    try:
        result = TcpUtility(password=_key[0], timeout=timeout).executeCommand(addr, [IDENTITY])
    except (UtilityException, OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


def request(addr: str, verb: str, peer: str, timeout: float = 5.0) -> str:
    """Send a pysyncobj utility request to the member at ``addr``: ``add``/``remove``
    ``peer`` (forwarded to the leader), or ``transfer`` leadership to ``peer`` (sent to
    the leader); return "" on success, else what went wrong."""
    try:
        result = TcpUtility(password=_key[0], timeout=timeout).executeCommand(addr, [verb, peer])
    except (UtilityException, OSError, ValueError) as exc:
        return f"{addr} did not answer: {exc or 'no reply'}"
    if isinstance(result, str) and result.startswith("SUCCESS"):
        return ""
    return f"{addr} answered {result!r}"
