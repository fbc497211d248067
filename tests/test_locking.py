import json
import subprocess
import sys

import pytest

from pipeline.locking import OutputLock, OutputLocked


def test_second_run_is_refused_while_first_holds_the_lock(tmp_path):
    with OutputLock(str(tmp_path)):
        # Another process (a different pid) tries the same directory.
        code = (
            "import sys; from pipeline.locking import OutputLock, OutputLocked\n"
            f"try:\n OutputLock({str(tmp_path)!r}).acquire()\nexcept OutputLocked as e:\n print(e); sys.exit(3)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 3, r.stderr
        assert "another run" in r.stdout
    assert not (tmp_path / ".lock").exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (tmp_path / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": int(p.stdout)}))
    with OutputLock(str(tmp_path)):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] != int(p.stdout)


def test_torn_lock_file_is_taken_over(tmp_path):
    (tmp_path / ".lock").write_text("{not json")
    with OutputLock(str(tmp_path)):
        pass


def test_lock_held_by_live_process_on_same_host_blocks(tmp_path):
    import os
    import socket

    (tmp_path / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid()}))
    with pytest.raises(OutputLocked, match="another run"):
        OutputLock(str(tmp_path)).acquire()
