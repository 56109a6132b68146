"""Runs a command on a pseudo-terminal and types an answer after each password prompt.

Usage: run-on-terminal.py COMMAND_JSON ANSWERS_JSON
COMMAND_JSON is the argv list; ANSWERS_JSON the lines to type, one after each "Password" seen.
Prints everything the terminal showed and exits with the command's exit code (1 on a timeout).
"""
import json
import os
import pty
import select
import sys
import time

TIMEOUT_SECONDS = 120


def main():
    command = json.loads(sys.argv[1])
    answers = json.loads(sys.argv[2])
    pid, terminal = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    shown = b''
    answered = 0
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 1)
        if ready:
            try:
                data = os.read(terminal, 4096)
            except OSError:
                break
            if not data:
                break
            shown += data
        while answered < len(answers) and shown.count(b'Password') > answered:
            time.sleep(0.2)  # let the prompt put the terminal into raw mode
            os.write(terminal, answers[answered].encode('utf-8') + b'\r')
            answered += 1
    sys.stdout.write(shown.decode('utf-8', 'replace'))
    if time.monotonic() >= deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.stdout.write('\n(run-on-terminal: timed out)\n')
        sys.exit(1)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


main()
