"""Time one argon2id verification at OWASP's two recommended settings on this machine.

    python bench/argon2_timing.py [--runs 30]

OWASP's Password Storage Cheat Sheet names equivalent argon2id floors; the hub's default is the
first ([passwords] in the configuration). Each verification is what one sign-in (or one guess)
costs a worker, so it bounds sign-ins per second per core. Prints the median, p10 and p90 of
`PasswordHasher.verify` for a right password. Not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from argon2 import PasswordHasher, Type

SETTINGS = {
    "m=19456 KiB (19 MiB), t=2, p=1": (19456, 2, 1),
    "m=47104 KiB (46 MiB), t=1, p=1": (47104, 1, 1),
}


def measure(memory: int, time_cost: int, lanes: int, runs: int) -> dict:
    hasher = PasswordHasher(
        memory_cost=memory, time_cost=time_cost, parallelism=lanes, type=Type.ID
    )
    stored = hasher.hash("Mật-khẩu-đo-thời-gian-1")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        hasher.verify(stored, "Mật-khẩu-đo-thời-gian-1")
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p10_ms": round(times[len(times) // 10], 1),
        "p90_ms": round(times[len(times) * 9 // 10], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    for name, params in SETTINGS.items():
        print(json.dumps({"setting": name, **measure(*params, args.runs)}))


if __name__ == "__main__":
    main()
