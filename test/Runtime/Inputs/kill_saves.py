#!/usr/bin/env python3
"""Kills `save_loop MODEL loop PATH` with SIGKILL again and again, at random
moments and the moment a temporary file of a save is half written, and checks
after each kill that PATH still loads strictly and is not torn, and that no
temporary file remains once the next save has run (a killed save's unnamed
O_TMPFILE file vanishes with it; a named one, where the file system has no
O_TMPFILE or the kill fell between naming and renaming, is removed by the
next save because its process is gone).

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


def temp_sizes(proc, path):
    """Sizes of PATH's temporary files: the named "PATH.tmp.*" ones and the
    unnamed (O_TMPFILE) files that PROC holds open in PATH's directory,
    which /proc shows as "DIR/#INODE (deleted)"."""
    sizes = [size_of(t) for t in glob.glob(path + ".tmp.*")]
    fd_dir = "/proc/%d/fd" % proc.pid
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fds = os.listdir(fd_dir)
    except OSError:  # the process is gone
        return sizes
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
            if target.startswith(directory + "/#") and target.endswith(" (deleted)"):
                sizes.append(os.stat(os.path.join(fd_dir, fd)).st_size)
        except OSError:  # closed meanwhile
            pass
    return sizes


def main():
    program, model, path, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    random.seed(1234)
    subprocess.run([program, model, "save", path, "0"], check=True,
                   stdout=subprocess.DEVNULL)
    full_size = os.path.getsize(path)
    mid_write = 0
    for r in range(rounds):
        log = open(path + ".log", "w+")
        proc = subprocess.Popen([program, model, "loop", path], stdout=log)
        try:
            if r % 2 == 0:
                # The moment a save's temporary file exists but is incomplete.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and proc.poll() is None:
                    sizes = temp_sizes(proc, path)
                    if any(s is not None and 0 < s < full_size for s in sizes):
                        mid_write += 1
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
        check = subprocess.run([program, model, "check", path],
                               stdout=subprocess.PIPE, text=True)
        if check.returncode != 0 or not check.stdout.startswith("intact"):
            sys.exit("round %d: after SIGKILL the state file is damaged: %s"
                     % (r, check.stdout.strip()))
        if os.path.getsize(path) != full_size:
            sys.exit("round %d: the state file has %d bytes, not %d"
                     % (r, os.path.getsize(path), full_size))
        # The next save leaves no temporary file behind: neither its own
        # nor the killed one's.
        subprocess.run([program, model, "save", path, str(r + 1)], check=True,
                       stdout=subprocess.DEVNULL)
        left = glob.glob(path + ".tmp.*")
        if left:
            sys.exit("round %d: after the kill and one more save, temporary "
                     "files remain: %s" % (r, " ".join(left)))
    print("%d kills: the state file loaded intact after each" % rounds)
    print("killed in the middle of writing: %s" % ("yes" if mid_write else "no"))
    print("no temporary file remained after the next save")


if __name__ == "__main__":
    main()
