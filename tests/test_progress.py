"""islr.progress: in-place bars in a terminal, separate short lines in a log."""

import io as stdio
import time

from islr.progress import LineStream, progress_bar


class FakeTerminal(stdio.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_bar_writes_few_separate_lines(monkeypatch):
    monkeypatch.setenv("TQDM_MININTERVAL", "0.1")
    log = stdio.StringIO()  # not a terminal: a log file
    for _ in progress_bar(range(40), desc="work", file=log, leave=False):
        time.sleep(0.01)  # 0.4 s in all: a line about every 0.1 s after the first 0.1 s
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert 2 <= len(lines) <= 8, lines
    assert all(line.startswith("work:") for line in lines)
    assert "40/40" in lines[-1]  # the final state is printed even for leave=False
    assert len(set(lines)) == len(lines)


def test_log_bar_shorter_than_the_interval_prints_nothing():
    log = stdio.StringIO()
    with progress_bar(total=100_000, desc="fast", file=log) as bar:
        for _ in range(100_000):
            bar.update(1)
    assert log.getvalue() == ""


def test_terminal_bar_redraws_in_place():
    term = FakeTerminal()
    for _ in progress_bar(range(3), desc="tty", file=term, mininterval=0):
        pass
    text = term.getvalue()
    assert text.count("\r") >= 3 and "3/3" in text
    assert text.rstrip("\n").count("\n") == 0  # one line, redrawn


def test_line_stream_turns_redraws_into_lines():
    out = stdio.StringIO()
    stream = LineStream(out)
    for chunk in ("\r  0%| a", "\r 50%| b   ", "\r 50%| b", "\r", "", "\n", "\r100%| c"):
        stream.write(chunk)
    assert out.getvalue() == "0%| a\n50%| b\n100%| c\n"
