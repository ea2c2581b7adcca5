"""What compare.py reads from /proc: a server's process tree, the CPU time it has used,
and the memory of each process.

CPU is counted for the whole tree: the master, every live descendant (utime + stime, all
threads), and, through each process's cutime + cstime, every descendant that has already
exited and been reaped (workers replaced by a reload). A zombie not yet reaped still shows
its own times. Summed before and after a run, that is the CPU the server spent on it,
whatever else the machine was doing, which makes it the stable figure on a noisy machine.
"""

from __future__ import annotations

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


def children(pid: int) -> list[int]:
    """Direct children of pid (zombies included), from every thread's children list."""
    out: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return sorted(out)


def live_children(pid: int) -> list[int]:
    """Direct children that are not zombies: a server's workers."""
    out = []
    for child in children(pid):
        fields = _stat_fields(child)
        if fields and fields[0] not in (b"Z", b"X"):
            out.append(child)
    return out


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        out.append(p)
        frontier.extend(children(p))
    return out


def cpu_times(pid: int) -> dict[str, float]:
    """CPU seconds used by pid's whole tree so far, including reaped descendants:
    {'total', 'user', 'sys', 'master'}. 'master' is pid's own time, threads included,
    without its children; 'user' and 'sys' split the total."""
    user = sys = 0
    master = 0
    for p in tree(pid):
        fields = _stat_fields(p)
        if fields is None:
            continue  # exited between the listing and the read: its parent's cutime has it
        # After the name: state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime(14) stime(15) cutime(16) cstime(17), so indexes 11..14 here.
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        user += utime + cutime
        sys += stime + cstime
        if p == pid:
            master = utime + stime
    return {"total": (user + sys) / CLK_TCK, "user": user / CLK_TCK, "sys": sys / CLK_TCK,
            "master": master / CLK_TCK}


def cpu_seconds(pid: int) -> float:
    """CPU time used by pid's whole tree so far, including reaped descendants."""
    return cpu_times(pid)["total"]


def memory_kb(pid: int) -> dict[str, int] | None:
    """{'rss': kB, 'pss': kB} from /proc/PID/smaps_rollup, or None if pid is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    out[key.lower()] = int(rest.split()[0])
    except OSError:
        return None
    return out if len(out) == 2 else None


def workers_memory(master: int) -> dict[int, dict[str, int]]:
    """memory_kb of each live direct child of the master."""
    out = {}
    for pid in live_children(master):
        m = memory_kb(pid)
        if m:
            out[pid] = m
    return out
