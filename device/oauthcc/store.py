# The only module that touches flash: a small JSON state file, written atomically and only
# when it changed (flash wears out). What a client keeps there is ClientCore.state().
import json
import os


class FileStore:
    """load() -> dict or None; save(dict). A corrupt or missing file reads as None."""

    def __init__(self, path):
        self.path = path
        self._last = None

    def load(self):
        try:
            with open(self.path) as f:
                self._last = f.read()
            return json.loads(self._last)
        except (OSError, ValueError, MemoryError, RuntimeError):  # RecursionError: 40 KB of "["
            return None

    def save(self, state):
        """Raises what the file system raises (OSError: flash full, read-only, ...); the old
        file stays whole, and the half-written temporary file is removed."""
        data = json.dumps(state)
        if data == self._last:
            return
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write(data)
            os.rename(tmp, self.path)  # atomic on LittleFS and POSIX: never half a file
        except OSError:
            try:
                os.remove(tmp)  # a full flash gets its blocks back
            except OSError:
                pass
            raise
        self._last = data


class MemoryStore:
    """A store that forgets at reset: for tests, and as a model of the interface."""

    def __init__(self):
        self.state = None
        self.writes = 0

    def load(self):
        return self.state

    def save(self, state):
        if state != self.state:
            self.state = json.loads(json.dumps(state))
            self.writes += 1
