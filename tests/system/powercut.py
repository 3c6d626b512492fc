"""A `streamview run` on SQLite behind the fault VFS, for power-cut tests.

The fault VFS (src/store/sqlite/fault_vfs.h) keeps each file as of its last fsync; once armed,
the process's next file write is a power cut: every write not yet synced is dropped and the
process exits 86. A test arms it after observing what it wants durable (an answer received),
never after a clock, then reboots the engine and checks what survived.
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

from harness import free_port, wait_until

POWER_CUT_EXIT = 86  # kPowerCutExitCode in fault_vfs.h

# A store, one source of notes and a view of them (formatted with {db}); tests append to it.
NOTES_CONFIG = """
store:
  path: {db}
sources:
  ops:
    key: id
    event_types: [note.created]
views:
  notes:
    source: ops
    key: [id]
    columns: {{id: text, body: text}}
    on:
      note.created:
        set: {{id: e.id, body: e.body}}
"""


def call(port, token, method, path, body=None, headers=None, raw=None):
    """(status, decoded JSON); status None when the connection failed (the power is off).
    `body` is sent as JSON, `raw` (bytes) as it is."""
    data = json.dumps(body).encode() if body is not None else raw
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=data)
    req.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = r.read()
            return r.status, json.loads(answer) if answer else None
    except urllib.error.HTTPError as e:
        answer = e.read()
        return e.code, json.loads(answer) if answer else None
    except OSError:
        return None, None


class PowerCutEngine:
    """`config_text` is formatted with {db}, the store's path."""

    def __init__(self, binary, tmp, config_text, token):
        self.binary, self.tmp, self.token = binary, tmp, token
        self.db = os.path.join(tmp, "store.db")
        self.fault_dir = os.path.join(tmp, "fault")
        self.config = os.path.join(tmp, "streamview.yaml")
        self.log = os.path.join(tmp, "run.log")
        with open(self.config, "w") as f:
            f.write(config_text.format(db=self.db))
        self.proc, self.port = None, None

    def call(self, method, path, body=None, headers=None, raw=None):
        return call(self.port, self.token, method, path, body, headers, raw)

    def start(self):
        self.port = free_port()
        env = dict(os.environ, STREAMVIEW_TOKEN=self.token, SV_FAULT_DIR=self.fault_dir)
        env.pop("SV_FAULT", None)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "run", "--config", self.config, "--listen",
                 "127.0.0.1:%d" % self.port], stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: self.call("GET", "/health/ready")[0] == 200, "run ready",
                   proc=self.proc, log=self.log)

    def arm_power_cut(self):
        """The next file write of the process is a power cut (fault_vfs.h's control file)."""
        os.makedirs(self.fault_dir, exist_ok=True)
        path = os.path.join(self.fault_dir, "control")
        with open(path + ".tmp", "w") as f:
            f.write("powercut_at_write=1")
        os.rename(path + ".tmp", path)

    def reboot(self):
        """Waits for the cut to stop the process, then clears what a reboot clears; returns
        the process's exit code."""
        code = self.proc.wait(timeout=180)
        shutil.rmtree(self.fault_dir, ignore_errors=True)
        if os.path.exists(self.db + "-shm"):
            os.unlink(self.db + "-shm")
        return code

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
