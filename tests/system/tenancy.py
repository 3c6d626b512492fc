#!/usr/bin/env python3
"""Reads scoped to the caller's organization (issue 19 item 1), through `streamview run --listen`.

Shipments of three organizations are ingested into the embedded log; `shipments` declares
`tenant: org_id`, the derived view `status_counts` too, and a lookup over shipments is scoped by
it; `carriers` has no tenant column. Callers are API keys (configured as SHA-256) for o-1, o-2
and the admin, and HS256 JWTs. Checked against the events this script wrote (the oracle):
- no credential, an unknown key, a JWT that is expired, for another audience, signed with
  another secret or with alg "none": 401 on every read, each with a JSON error body;
- an organization's key lists exactly its own rows, whatever filter it sends (org_id=o-2 finds
  nothing), reads another organization's row as 404, sees only its own groups of the derived
  view and its own lookup entries (asking for another scope is 403);
- subscriptions (GET /views/{view}/subscribe): 401 without a caller; o-1's streams of shipments
  and status_counts carry its new row and nothing of an o-3 row appended beside it, the
  admin's both;
- a JWT carrying org o-2 reads o-2's rows; the admin key reads every row and the ops routes,
  which an organization's key may not (403).

    tenancy.py --binary build/src/cli/streamview
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SseStream, WaitTimeout, free_port, http_get, http_json,  # noqa: E402
                     sha256_hex, start_test, verdict, wait_until)

SECRET = "tenancy-test-secret-%d" % os.getpid()
KEYS = {"o-1": "key-for-o1", "o-2": "key-for-o2", "admin": "key-for-the-admin"}


CONFIG = """
store:
  kind: sqlite
  path: {store}
sources:
  ops:
    key: id
    event_types: [shipment.created, carrier.upserted]
server:
  auth:
    api_keys:
      - {{sha256: {o1}, organization: o-1}}
      - {{sha256: {o2}, organization: o-2}}
      - {{sha256: {admin}, role: admin}}
    jwt:
      algorithm: HS256
      secret_env: SV_TEST_JWT_SECRET
      audience: streamview
      organization_claim: org
views:
  shipments:
    source: ops
    key: [id]
    tenant: org_id
    columns:
      id: text
      org_id: text
      status: text
    indexes:
      - [org_id, status]
    on:
      shipment.created:
        set: {{id: e.id, org_id: e.org, status: e.status}}
  carriers:
    source: ops
    key: [id]
    columns:
      id: text
      name: text
    on:
      carrier.upserted:
        set: {{id: e.id, name: e.name}}
derived_views:
  status_counts:
    tenant: org_id
    sql: "CREATE VIEW status_counts AS SELECT org_id, status, count(*) AS n FROM shipments GROUP BY org_id, status"
  status_step:
    internal: true
    sql: "CREATE VIEW status_step AS SELECT id, org_id, status FROM shipments"
  all_statuses:
    shared: true
    sql: "CREATE VIEW all_statuses AS SELECT status, count(*) AS n FROM status_step GROUP BY status"
lookups:
  shipment_search:
    view: shipments
    label: status
    scope: org_id
    limit: 100
"""


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret=SECRET, alg="HS256"):
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    if alg == "none":
        return "%s.%s." % (header, payload)
    sig = hmac.new(secret.encode(), ("%s.%s" % (header, payload)).encode(), hashlib.sha256)
    return "%s.%s.%s" % (header, payload, b64(sig.digest()))


def rs256_jwt(claims, private_key):
    """An RS256 JWT signed by the openssl CLI (the standard library has no RSA)."""
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signed = subprocess.run(["openssl", "dgst", "-sha256", "-sign", private_key],
                            input=("%s.%s" % (header, payload)).encode(), capture_output=True,
                            check=True).stdout
    return "%s.%s.%s" % (header, payload, b64(signed))


def main():
    _, binary, tmp = start_test(__doc__, "sv-tenancy-")
    problems = []
    rnd = random.Random(20261205)
    shipments = {}  # id -> (org, status)
    lines = []
    for i in range(600):
        sid = "s-%04d" % i
        shipments[sid] = ("o-%d" % rnd.randint(1, 3), rnd.choice(["booked", "picked", "late"]))
        lines.append({"type": "shipment.created", "id": sid, "org": shipments[sid][0],
                      "status": shipments[sid][1]})
    for i in range(5):
        lines.append({"type": "carrier.upserted", "id": "c-%d" % i, "name": "Carrier %d" % i})
    config = os.path.join(tmp, "tenancy.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=os.path.join(tmp, "t.db"), o1=sha256_hex(KEYS["o-1"]),
                              o2=sha256_hex(KEYS["o-2"]), admin=sha256_hex(KEYS["admin"])))
    events = os.path.join(tmp, "events.ndjson")
    with open(events, "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    r = subprocess.run([binary, "ingest", "--config", config, events], capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("ingest failed: %s" % r.stderr[-800:])
    port = free_port()
    log = open(os.path.join(tmp, "run.log"), "w")
    env = dict(os.environ, SV_TEST_JWT_SECRET=SECRET, STREAMVIEW_TOKEN="ops-token")
    proc = subprocess.Popen([binary, "run", "--config", config, "--listen",
                             "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT,
                            env=env)

    def get(path, bearer=None, api_key=None):
        code, body, _ = http_json(port, path, bearer=bearer, api_key=api_key)
        return (code, body) if code is not None else (None, None)

    def all_rows(path, **cred):
        code, body = get(path + ("&" if "?" in path else "?") + "limit=1000", **cred)
        return (code, body["items"]) if code == 200 else (code, body)

    try:
        def caught_up():
            code, rows = all_rows("/views/shipments", bearer=KEYS["admin"])
            return code == 200 and len(rows) == len(shipments)
        wait_until(caught_up, "the admin to see every shipment", proc=proc, log=log.name)
        now = int(time.time())
        refused = {
            "no credential": {},
            "an unknown API key": {"bearer": "not-a-key"},
            "an unknown X-API-Key": {"api_key": "not-a-key"},
            "an expired JWT": {"bearer": jwt({"org": "o-1", "aud": "streamview", "exp": now - 5})},
            "a JWT for another audience": {"bearer": jwt({"org": "o-1", "aud": "other",
                                                          "exp": now + 600})},
            "a JWT signed with another secret": {"bearer": jwt({"org": "o-1", "aud": "streamview",
                                                                "exp": now + 600}, secret="x")},
            "a JWT with alg none": {"bearer": jwt({"org": "o-1", "aud": "streamview",
                                                   "exp": now + 600}, alg="none")},
            "a JWT not valid yet": {"bearer": jwt({"org": "o-1", "aud": "streamview",
                                                   "exp": now + 600, "nbf": now + 300})},
        }
        for what, cred in refused.items():
            for path in ("/views/shipments", "/views/shipments/s-0001", "/views/status_counts",
                         "/views/carriers", "/lookups/shipment_search?q=b", "/views",
                         "/views/shipments/subscribe", "/views/status_counts/subscribe"):
                code, body = get(path, **cred)
                if code != 401 or not isinstance(body, dict) or "error" not in body:
                    problems.append("%s: GET %s gave %r %r, wanted 401 with an error body"
                                    % (what, path, code, body))
        if not problems:
            print("ok: %d kinds of missing or bad credentials get 401 on every read"
                  % len(refused))

        def check_org(org, cred):
            before = len(problems)
            own = sorted(s for s, (o, _) in shipments.items() if o == org)
            code, rows = all_rows("/views/shipments", **cred)
            if code != 200 or sorted(r["id"] for r in rows) != own:
                problems.append("%s: /views/shipments gave %r, %s rows, wanted %d"
                                % (org, code, len(rows) if code == 200 else rows, len(own)))
            other = "o-3" if org != "o-3" else "o-1"
            code, rows = all_rows("/views/shipments?org_id=%s" % other, **cred)
            if code != 200 or rows:
                problems.append("%s: asking for org_id=%s gave %r %r" % (org, other, code, rows))
            theirs = next(s for s, (o, _) in sorted(shipments.items()) if o == other)
            mine = own[0]
            if get("/views/shipments/" + theirs, **cred)[0] != 404 or \
                    get("/views/shipments/" + mine, **cred)[0] != 200:
                problems.append("%s: own row / another's row not 200 / 404" % org)
            want = {}
            for o, st in shipments.values():
                if o == org:
                    want[st] = want.get(st, 0) + 1
            code, rows = all_rows("/views/status_counts", **cred)
            got = {r["status"]: r["n"] for r in rows} if code == 200 else rows
            if code != 200 or got != want or any(r["org_id"] != org for r in rows):
                problems.append("%s: status_counts %r, wanted %r" % (org, rows, want))
            code, body = get("/lookups/shipment_search?q=&limit=100", **cred)
            ids = sorted(item["id"] for item in body["items"]) if code == 200 else body
            if code != 200 or any(i not in own for i in ids) or len(ids) != min(100, len(own)):
                problems.append("%s: lookup gave %r %r" % (org, code, ids))
            code, body = get("/lookups/shipment_search?q=b&org_id=%s" % other, **cred)
            if code != 403:
                problems.append("%s: lookup of scope %s gave %r %r" % (org, other, code, body))
            code, _ = all_rows("/views/carriers", **cred)
            if code != 200:
                problems.append("%s: /views/carriers (no tenant) gave %r" % (org, code))
            code, body = get("/lags", **cred)
            if code not in (401, 403):
                problems.append("%s: an organization reached /lags: %r %r" % (org, code, body))
            if len(problems) == before:
                print("ok: %s sees exactly its %d shipments, its groups and lookup entries, "
                      "nothing of %s" % (org, len(own), other))

        # Subscriptions: o-1's stream of shipments and status_counts carries o-1's new
        # shipment and nothing of the o-3 one appended just before it; the admin's carries both.
        subs = {(who, view): SseStream(port, "/views/%s/subscribe" % view, bearer=KEYS[who])
                for who in ("o-1", "admin") for view in ("shipments", "status_counts")}
        wait_until(lambda: all(any(e[0] == "ready" for e in s.snapshot())
                               for s in subs.values()), "the subscriptions' ready events",
                   proc=proc, log=log.name)
        probe = [{"type": "shipment.created", "id": "s-probe-3", "org": "o-3",
                  "status": "probed"},
                 {"type": "shipment.created", "id": "s-probe-1", "org": "o-1",
                  "status": "probed"}]
        code, body, _ = http_json(port, "/events", method="POST", bearer="ops-token",
                                  body="".join(json.dumps(e) + "\n" for e in probe).encode())
        if code != 200:
            raise SystemExit("append of the probe events: %r %r" % (code, body))
        for (who, view), s in subs.items():
            last = "s-probe-1" if view == "shipments" else "o-1"
            field = "id" if view == "shipments" else "org_id"
            wait_until(lambda: any(e[0] == "upsert" and e[2][field] == last and
                                   e[2]["status"] == "probed" for e in s.snapshot()),
                       "%s's %s stream to carry o-1's probe" % (who, view), proc=proc,
                       log=log.name)
        for view in ("shipments", "status_counts"):
            orgs = {e[2]["org_id"] for e in subs[("o-1", view)].snapshot() if e[0] == "upsert"}
            admin_orgs = {e[2]["org_id"] for e in subs[("admin", view)].snapshot()
                          if e[0] == "upsert"}
            if orgs != {"o-1"} or admin_orgs != {"o-1", "o-3"}:
                problems.append("subscribe %s: o-1's stream carried %r, the admin's %r"
                                % (view, orgs, admin_orgs))
        for s in subs.values():
            s.close()
        shipments["s-probe-3"] = ("o-3", "probed")
        shipments["s-probe-1"] = ("o-1", "probed")
        if not any(p.startswith("subscribe") for p in problems):
            print("ok: o-1's subscriptions carry its own new rows and nothing of o-3's; the "
                  "admin's carry both")

        check_org("o-1", {"bearer": KEYS["o-1"]})
        check_org("o-2", {"api_key": KEYS["o-2"]})
        check_org("o-2", {"bearer": jwt({"org": "o-2", "aud": ["x", "streamview"],
                                         "exp": now + 600})})
        code, rows = all_rows("/views/shipments?org_id=o-3", bearer=KEYS["admin"])
        want = sorted(s for s, (o, _) in shipments.items() if o == "o-3")
        if code != 200 or sorted(r["id"] for r in rows) != want:
            problems.append("admin: org_id=o-3 gave %r" % code)
        if get("/lags", bearer=KEYS["admin"])[0] != 200 or \
                get("/lags", bearer="ops-token")[0] != 200:
            problems.append("the admin key or the ops token could not reach /lags")
        else:
            print("ok: the admin reads every organization and the ops routes")
        # An internal view is served to no one; a shared one (said so in the config) to all.
        for cred in ({"bearer": KEYS["admin"]}, {"bearer": KEYS["o-1"]}):
            code, body = get("/views/status_step", **cred)
            if code != 404:
                problems.append("internal view status_step: GET gave %r %r, wanted 404"
                                % (code, body))
        code, body = get("/views", bearer=KEYS["admin"])
        names = [v["name"] for v in body["views"]] if code == 200 else []
        if "status_step" in names or "all_statuses" not in names:
            problems.append("/views lists %r: wanted all_statuses and not status_step" % names)
        code, rows = all_rows("/views/all_statuses", bearer=KEYS["o-1"])
        want = {}
        for _, status in shipments.values():
            want[status] = want.get(status, 0) + 1
        if code != 200 or {r["status"]: r["n"] for r in rows} != want:
            problems.append("shared view all_statuses for o-1: %r %r, wanted %r"
                            % (code, rows, want))
        else:
            print("ok: an internal view is served to no one, a shared one to every caller")
        # Seed 000's staleness per organization: every tenant-scoped view lists each
        # organization it changed, an untenanted one none.
        code, text = http_get(port, "/metrics", headers={"Authorization": "Bearer ops-token"})
        seen = {}
        for line in text.splitlines() if code == 200 else []:
            m = re.match(r'streamview_view_org_staleness_seconds\{(.*)\} (\S+)$', line)
            if m:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                seen.setdefault(labels["view"], set()).add(labels["org"])
                if not 0 <= float(m.group(2)) < 3600:
                    problems.append("org staleness out of range: %s" % line)
        orgs = {o for o, _ in shipments.values()}
        if seen != {"shipments": orgs, "status_counts": orgs}:
            problems.append("/metrics (%r) per-organization staleness: %r, wanted %r for "
                            "shipments and status_counts" % (code, seen, orgs))
        else:
            print("ok: /metrics has the staleness of each organization of each tenant view")
        proc.terminate()
        proc.wait(timeout=120)

        # RS256: a token signed with the private key is accepted; an HS256 token keyed with the
        # public key's PEM (the algorithm-confusion attack) is refused.
        private_key = os.path.join(tmp, "jwt.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", private_key], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", private_key, "-pubout", "-out",
                        os.path.join(tmp, "jwt.pub")], check=True, capture_output=True)
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace("algorithm: HS256\n      secret_env: SV_TEST_JWT_SECRET",
                                 "algorithm: RS256\n      public_key_file: jwt.pub"))
        port = free_port()
        proc = subprocess.Popen([binary, "run", "--config", config, "--listen",
                                 "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT,
                                env=env)
        wait_until(caught_up, "the RS256-configured server to serve", proc=proc, log=log.name)
        claims = {"org": "o-1", "aud": "streamview", "exp": int(time.time()) + 600}
        code, rows = all_rows("/views/shipments", bearer=rs256_jwt(claims, private_key))
        own = sorted(s for s, (o, _) in shipments.items() if o == "o-1")
        with open(os.path.join(tmp, "jwt.pub")) as f:
            confused = jwt(claims, secret=f.read())
        bad_code, _ = get("/views/shipments", bearer=confused)
        if code != 200 or sorted(r["id"] for r in rows) != own or bad_code != 401:
            problems.append("RS256: signed token gave %r; HS256 keyed with the public key gave %r"
                            % (code, bad_code))
        else:
            print("ok: RS256 tokens are verified with the public key; an HS256 token keyed with "
                  "that key is refused")
    except WaitTimeout as e:
        problems.append(str(e))
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
