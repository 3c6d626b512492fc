"""The store a system test runs against: SQLite (a file) or PostgreSQL (a fresh database in the
cluster SV_TEST_PG_DSN names, e.g. the one scripts/pg.sh starts). Standard library only; the
PostgreSQL side talks to the server through `psql`.

    store = Store.create("postgres", tmp, "crash")   # or "sqlite"
    store.arg                  # what `streamview --store` takes (a path or a postgresql:// URI)
    store.oracle_args()        # what orders_oracle.py takes (--db PATH or --pg URI)
    store.query("SELECT MAX(position) FROM sv_positions")   # first column of the first row
    store.execute("UPDATE t SET a = 1")   # a change, committed
    store.drop()
"""

import os
import re
import sqlite3
import subprocess
import sys


SKIP = 77


def _parse_dsn(dsn):
    out = {}
    for m in re.finditer(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn):
        v = m.group(2)
        if v.startswith("'"):
            v = v[1:-1]
        out[m.group(1)] = v
    return out


class Store:
    def __init__(self, kind, arg, admin_dsn=None, dbname=None, schema="streamview"):
        self.kind = kind
        self.arg = arg
        self.admin_dsn = admin_dsn
        self.dbname = dbname
        self.schema = schema

    @staticmethod
    def create(kind, tmp, name):
        if kind == "sqlite":
            return Store("sqlite", os.path.join(tmp, name + ".db"))
        if kind != "postgres":
            raise SystemExit("unknown store kind %r" % kind)
        dsn = os.environ.get("SV_TEST_PG_DSN", "")
        if not dsn:
            if os.environ.get("SV_TEST_REQUIRE_PG") == "1":
                print("FAILED: SV_TEST_REQUIRE_PG=1 but SV_TEST_PG_DSN is not set")
                sys.exit(1)
            # ctest reports exit code 77 as skipped (SKIP_RETURN_CODE).
            print("SKIPPED: --store-kind postgres needs SV_TEST_PG_DSN (scripts/pg.sh start)")
            sys.exit(SKIP)
        parts = _parse_dsn(dsn)
        dbname = "sv_%s_%d" % (re.sub(r"\W", "_", name), os.getpid())
        store = Store("postgres", None, admin_dsn=dsn, dbname=dbname)
        store.psql_admin("DROP DATABASE IF EXISTS %s" % dbname)
        store.psql_admin("CREATE DATABASE %s" % dbname)
        store.arg = "postgresql://%s@%s:%s/%s" % (parts.get("user", "postgres"),
                                                 parts.get("host", "127.0.0.1"),
                                                 parts.get("port", "5432"), dbname)
        return store

    def psql_admin(self, sql):
        r = subprocess.run(["psql", self.admin_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql: %s: %s" % (sql, r.stderr.strip()))

    def oracle_args(self):
        if self.kind == "sqlite":
            return ["--db", self.arg]
        return ["--pg", self.arg]

    def query(self, sql):
        """The first column of the first row of `sql` (engine tables and views unqualified),
        or None when there is no row or the engine's tables do not exist yet."""
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    def rows(self, sql):
        """All rows of `sql` as tuples ([] when the engine's tables do not exist yet). From
        PostgreSQL, numbers come back as int or float, NULL as None, the rest as text."""
        if self.kind == "sqlite":
            db = sqlite3.connect(self.arg, timeout=60)  # read-write: may roll back a hot journal
            try:
                return [tuple(r) for r in db.execute(sql).fetchall()]
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return []
                raise
            finally:
                db.close()
        r = subprocess.run(["psql", self.arg, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-P", "null=\\N", "-c",
                            "SET search_path = %s, public" % self.schema, "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            if "does not exist" in r.stderr:
                return []
            raise RuntimeError("psql: %s: %s" % (sql, r.stderr.strip()))
        out = []
        for line in r.stdout.splitlines():
            if line == "":
                continue
            row = []
            for v in line.split("|"):
                if v == "\\N":
                    row.append(None)
                    continue
                for conv in (int, float):
                    try:
                        v = conv(v)
                        break
                    except ValueError:
                        pass
                row.append(v)
            out.append(tuple(row))
        return out

    def execute(self, sql):
        """Runs `sql` (statements that return no rows) and commits: a change behind the
        engine's back."""
        if self.kind == "sqlite":
            db = sqlite3.connect(self.arg, timeout=60)
            try:
                db.executescript(sql)
                db.commit()
            finally:
                db.close()
            return
        r = subprocess.run(["psql", self.arg, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                            "SET search_path = %s, public" % self.schema, "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql: %s: %s" % (sql, r.stderr.strip()))

    def tables(self):
        """Names of the tables (SQLite: every table; PostgreSQL: the view schema's)."""
        if self.kind == "sqlite":
            return {r[0] for r in self.rows("SELECT name FROM sqlite_master WHERE type='table'")}
        return {r[0] for r in self.rows("SELECT table_name FROM information_schema.tables WHERE "
                                        "table_schema = 'public' AND table_type = 'BASE TABLE'")}

    def integrity_problems(self):
        """SQLite: PRAGMA quick_check; PostgreSQL: nothing to check from outside."""
        if self.kind != "sqlite":
            return []
        db = sqlite3.connect(self.arg)
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        db.close()
        return [] if check == "ok" else ["PRAGMA quick_check: %s" % check]

    def drop(self):
        if self.kind == "postgres":
            try:
                self.psql_admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname)
            except RuntimeError as e:
                print("warning: %s" % e)
