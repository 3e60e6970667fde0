"""What a client puts on the wire, counted where it cannot lie: a TCP relay in front of the
stub server that counts the connections it accepts, the TLS handshakes they open (a TLS
handshake record carrying a ClientHello as the first bytes a client sends) and the bytes in
each direction. The client talks to the relay's URL; nothing in the client or the stub is
asked or trusted.
"""
import socket
import threading
import time

_CHUNK = 16384


class Relay:
    """Relay(port) forwards 127.0.0.1:<self.port> to 127.0.0.1:port. counts() says what
    passed since the last take(), once every connection has ended."""

    def __init__(self, target_port, scheme="https"):
        self.target = ("127.0.0.1", target_port)
        self._lock = threading.Lock()
        self._open = 0
        self._zero()
        self._srv = socket.create_server(("127.0.0.1", 0))
        self.port = self._srv.getsockname()[1]
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _zero(self):
        self._counts = {"connections": 0, "tls_handshakes": 0, "bytes_sent": 0,
                        "bytes_received": 0}

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._srv.close()

    def take(self, timeout=10):
        """The counts since the last take() (bytes_sent: client to server), after the
        connections in flight have ended (the client has exited: they end at once)."""
        end = time.monotonic() + timeout
        while self._open and time.monotonic() < end:
            time.sleep(0.01)
        with self._lock:
            counts = dict(self._counts, unfinished=self._open)
            self._zero()
        return counts

    def _add(self, key, n):
        with self._lock:
            self._counts[key] += n

    def _accept(self):
        while True:
            try:
                client, _ = self._srv.accept()
            except OSError:
                return  # closed
            with self._lock:
                self._open += 1
                self._counts["connections"] += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            self._ended()
            return
        up = threading.Thread(target=self._pump, args=(client, server, "bytes_sent", True),
                              daemon=True)
        up.start()
        self._pump(server, client, "bytes_received", False)
        up.join(15)
        client.close()
        server.close()
        self._ended()

    def _ended(self):
        with self._lock:
            self._open -= 1

    def _pump(self, src, dst, key, first):
        """Copy src to dst until src ends, counting; the first bytes from a client tell a TLS
        handshake (record type 22, handshake type 1: ClientHello) from plain HTTP."""
        head = b""
        src.settimeout(15)
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    break
                if first and len(head) < 6:
                    head += data[:6 - len(head)]
                    if len(head) == 6 and head[0] == 22 and head[5] == 1:
                        self._add("tls_handshakes", 1)
                self._add(key, len(data))
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)  # pass the end on: the other side may still answer
        except OSError:
            pass
