"""Live job lines are drawn on every terminal, including one that reports no width (a
pseudo-terminal opened by a tool, where tqdm's own width detection draws nothing)."""
import fcntl
import io
import os
import select
import struct
import termios
import time

from electra_lab.studies.job_display import JobDisplay


def test_a_terminal_without_a_width_still_gets_its_lines(tmp_path):
    master, slave = os.openpty()  # a fresh pseudo-terminal reports 0 columns
    with os.fdopen(slave, "w") as stream:
        (tmp_path / "p.json").write_text('{"kind": "pretrain", "step": 3, "total_steps": 9, "updated": 1e12}')
        display = JobDisplay(stream=stream, live=True, echo=lambda message: None)
        display.start("job")
        display.update("job", tmp_path / "p.json")
        display.close()
        stream.flush()
        drawn = ""
        # the kernel hands what was written to the master side asynchronously (slowly on a loaded
        # machine): read until the line is there or a few seconds pass
        deadline = time.time() + 5
        while "step 3/9" not in drawn and time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                drawn += os.read(master, 65536).decode(errors="replace")
    os.close(master)
    assert "step 3/9" in drawn


def test_a_sized_terminal_keeps_following_its_width():
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with os.fdopen(slave, "w") as stream:
        display = JobDisplay(stream=stream, live=True, echo=lambda message: None)
        display.start("job")
        assert display.bars["job"].dynamic_ncols
        display.close()
    os.close(master)


def test_no_terminal_means_no_bars():
    assert not JobDisplay(stream=io.StringIO()).live


def test_the_study_bar_counts_units_above_the_job_lines(tmp_path):
    lines = []
    plain = JobDisplay(stream=io.StringIO(), live=False, echo=lines.append, overall=("study", 2, 5))
    plain.advance()
    assert lines == ["[jobs] study: 3/5 units done"]
    stream = io.StringIO()
    live = JobDisplay(stream=stream, live=True, echo=lambda message: None, overall=("study", 1, 4))
    (tmp_path / "p.json").write_text('{"kind": "pretrain", "step": 3, "total_steps": 9, "updated": 1e12}')
    live.start("unit")
    live.update("unit", tmp_path / "p.json")
    live.advance()
    assert live.positions["unit"] == 1 and live.overall.n == 2  # row 0 is the study's bar
    live.close()
    assert "study: units" in stream.getvalue() and "2/4" in stream.getvalue()
