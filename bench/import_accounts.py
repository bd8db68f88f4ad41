"""Benchmark `idp users import` on generated accounts, into SQLite and into PostgreSQL.

    python bench/import_accounts.py [--backend sqlite|pg] [--rows 1000000] [--keep FILE]

It writes a JSONL file of generated former-portal accounts (every row a distinct person with a
valid CCCD; one in ten also has an old CMND, one in five an organisation with a tax code; the
password hashes cycle through a few real bcrypt, PBKDF2 and salted SHA-256 values, since the
import checks a hash's form and cost, never the password), runs the real command as operators
run it (`idp --config … users import FILE --source bench --json`, a separate process), samples
that process's resident memory every second, and prints rows per second and memory: the peak,
and the resident size at 10 %, 50 % and 90 % of the run (flat means those agree). With `pg` it
uses $IDP_TEST_PG_ADMIN, or starts the test suite's own throwaway PostgreSQL. Not a test:
nothing asserts a time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# A valid organisation tax code (stdnum's check digit) for every organisation row is costly to
# generate; these real-shaped codes are made valid by search once and numbered by branch.
PROVINCES = ("001", "079", "031", "048", "092")


def _hashes() -> list[str]:
    import bcrypt

    salt = b"benchsalt"
    pbkdf2 = hashlib.pbkdf2_hmac("sha256", b"Mat-khau-1", salt, 27500)
    return [
        bcrypt.hashpw(b"Mat-khau-1", bcrypt.gensalt(10)).decode(),
        "$pbkdf2-sha256$27500$"
        + base64.b64encode(salt).decode()
        + "$"
        + base64.b64encode(pbkdf2).decode(),
        "sha256$ab12$" + hashlib.sha256(b"ab12Mat-khau-1").hexdigest(),
    ]


def _tax_codes(count: int) -> list[str]:
    from stdnum.vn import mst

    found = []
    n = 100000000
    while len(found) < count:
        n += 1
        for digit in range(10):
            code = f"0{n}{digit}"[-10:]
            if mst.is_valid(code):
                found.append(code)
                break
    return found


def generate(path: Path, rows: int) -> None:
    hashes = _hashes()
    orgs = _tax_codes(max(1, rows // 5 // 999 + 1))
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            row: dict = {
                "source_id": str(i),
                "username": f"user{i:07d}",
                "email": f"user{i}@example.vn",
                "phone": f"0912{i % 1000000:06d}",
                "created_at": 1500000000 + i * 37,
                "last_login_at": 1700000000 + i,
                "password_hash": hashes[i % len(hashes)],
            }
            if i % 5 == 4:
                # a branch number keeps each organisation's tax code distinct
                row.update(
                    account_type="organization",
                    tax_code=f"{orgs[i // 5 // 999]}-{i // 5 % 999 + 1:03d}",
                    business_name=f"Công ty TNHH số {i}",
                )
            else:
                row.update(
                    full_name="Nguyễn Văn An",
                    national_id=f"{PROVINCES[i % 5]}0{90 + i % 10}{i:06d}"[:12],
                )
                if i % 10 == 0:
                    row["former_national_id"] = f"{i:09d}"
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_import(idp: str, config: Path, data: Path, workdir: Path) -> dict:
    start = time.monotonic()
    process = subprocess.Popen(
        [idp, "--config", str(config), "users", "import", str(data), "--source", "bench", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=workdir,
    )
    samples: list[tuple[float, int]] = []
    while process.poll() is None:
        rss = _rss_kib(process.pid)
        if rss:
            samples.append((time.monotonic() - start, rss))
        time.sleep(1.0)
    out, err = process.communicate()
    elapsed = time.monotonic() - start
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}): {err.strip()}")
    summary = json.loads(out)

    def at(share: float) -> int:
        target = elapsed * share
        return min(samples, key=lambda s: abs(s[0] - target))[1] if samples else 0

    return {
        "rows": summary["rows"],
        "created": summary["created"],
        "merged": summary["merged"],
        "skipped": summary["skipped"],
        "conflicts": summary["conflicts"],
        "seconds": round(elapsed, 1),
        "rows_per_second": round(summary["rows"] / elapsed),
        "peak_rss_mib": round(max(s[1] for s in samples) / 1024, 1) if samples else None,
        "rss_mib_at_10_50_90": [round(at(x) / 1024, 1) for x in (0.1, 0.5, 0.9)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="reuse (or write) the generated file here")
    args = parser.parse_args()
    idp = str(Path(sys.executable).parent / "idp")
    with tempfile.TemporaryDirectory(prefix="idp-bench-import-") as tmp:
        work = Path(tmp)
        data = args.keep or work / "accounts.jsonl"
        if not data.exists():
            t = time.monotonic()
            generate(data, args.rows)
            print(f"generated {args.rows} rows in {time.monotonic() - t:.0f} s", file=sys.stderr)
        lines = [f'instance_dir = "{work / "instance"}"']
        database = None
        if args.backend == "pg":
            from tests import services

            services.ensure()
            admin = os.environ.get(services.PG_ENV)
            if not admin:
                raise SystemExit(services.missing_reason() or "no PostgreSQL")
            import psycopg

            database = f"idp_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            lines.append(f'database_url = "{admin.rsplit("/", 1)[0]}/{database}"')
        config = work / "idp.toml"
        config.write_text("\n".join(lines) + "\n")
        try:
            subprocess.run([idp, "--config", str(config), "init"], check=True, capture_output=True)
            result = run_import(idp, config, data, work)
        finally:
            if database:
                import psycopg

                with psycopg.connect(os.environ[services.PG_ENV], autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(json.dumps({"backend": args.backend, **result}))


if __name__ == "__main__":
    main()
