#!/usr/bin/env python3
"""Kills `save_loop MODEL loop PATH` with SIGKILL again and again, at random
moments and the moment a temporary file of a save is half written, and checks
after each kill that PATH still loads strictly and is not torn.

  kill_saves.py SAVE_LOOP MODEL.so PATH ROUNDS
"""
import glob
import os
import random
import signal
import subprocess
import sys
import time


def size_of(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:  # renamed or removed meanwhile
        return None


def main():
    program, model, path, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    random.seed(1234)
    subprocess.run([program, model, "save", path, "0"], check=True,
                   stdout=subprocess.DEVNULL)
    full_size = os.path.getsize(path)
    mid_write = 0
    for r in range(rounds):
        for stale in glob.glob(path + ".tmp.*"):
            os.unlink(stale)
        log = open(path + ".log", "w+")
        proc = subprocess.Popen([program, model, "loop", path], stdout=log)
        try:
            if r % 2 == 0:
                # The moment a save's temporary file exists but is incomplete.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and proc.poll() is None:
                    sizes = [size_of(t) for t in glob.glob(path + ".tmp.*")]
                    if any(s is not None and 0 < s < full_size for s in sizes):
                        break
            else:
                time.sleep(random.uniform(0.0, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        log.seek(0)
        if proc.returncode != -signal.SIGKILL:
            sys.exit("round %d: the saving process ended by itself: %s"
                     % (r, log.read().strip()))
        log.close()
        sizes = [size_of(t) for t in glob.glob(path + ".tmp.*")]
        if any(s is not None and s < full_size for s in sizes):
            mid_write += 1
        check = subprocess.run([program, model, "check", path],
                               stdout=subprocess.PIPE, text=True)
        if check.returncode != 0 or not check.stdout.startswith("intact"):
            sys.exit("round %d: after SIGKILL the state file is damaged: %s"
                     % (r, check.stdout.strip()))
        if os.path.getsize(path) != full_size:
            sys.exit("round %d: the state file has %d bytes, not %d"
                     % (r, os.path.getsize(path), full_size))
    for stale in glob.glob(path + ".tmp.*"):
        os.unlink(stale)
    print("%d kills: the state file loaded intact after each" % rounds)
    print("killed in the middle of writing: %s" % ("yes" if mid_write else "no"))


if __name__ == "__main__":
    main()
