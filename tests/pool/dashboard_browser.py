#!/usr/bin/env python3
"""tests/pool/dashboard_browser.py — drives Debian's Chromium (through chromedriver, W3C
WebDriver over HTTP, Python's standard library only) against rgpu-pool's dashboard.

Usage: dashboard_browser.py --url URL --expect FILE --shot PNG
FILE (JSON, written by dashboard_browser.sh from the CLI's own --json answers, a path that
does not go through the dashboard) holds, per persona (provider, user, admin, other_user): its
token, the numbers its page must show, the lease ids it must and must not see.
Exits 0 when every check holds; else prints what differed and exits 1.
"""
import argparse, base64, json, os, shutil, socket, struct, subprocess, sys, tempfile, time
import urllib.error, urllib.request, zlib

FAILS = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILS.append(what)


class WebDriver:
    def __init__(self, chromedriver, chromium, profile):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); self.port = s.getsockname()[1]; s.close()
        self.proc = subprocess.Popen([chromedriver, "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        for _ in range(200):
            try:
                self.call("GET", "/status"); break
            except Exception:
                time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                     "--user-data-dir=" + profile, "--window-size=1280,1800"]}}}}
        self.sid = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError("webdriver %s %s: %s" % (method, path, e.read()[:400]))

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.sid, path), body)

    def go(self, url): self.s("POST", "/url", {"url": url})
    def js(self, script, *args): return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        el = self.s("POST", "/element", {"using": "css selector", "value": css})
        return list(el.values())[0]

    def type(self, css, text): self.s("POST", "/element/%s/value" % self.find(css), {"text": text})
    def click(self, css): self.s("POST", "/element/%s/click" % self.find(css), {})
    def shot(self): return base64.b64decode(self.s("GET", "/screenshot"))

    def wait(self, script, what, limit=30):
        end = time.time() + limit
        while time.time() < end:
            v = self.js(script)
            if v:
                return v
            time.sleep(0.1)
        raise RuntimeError("timed out waiting for " + what + "; page says: " +
                           str(self.js("return document.body.innerText.slice(0, 800)")))

    def close(self):
        try:
            self.s("DELETE", "")
        finally:
            self.proc.terminate(); self.proc.wait(10)


def png_colours(png):
    """(distinct colours, share of pixels unlike the most common one) of an 8-bit RGB/RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and ctype in (2, 6), "unexpected PNG type %d/%d" % (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    raw, stride = zlib.decompress(idat), w * bpp
    prev, counts = bytearray(stride), {}
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 2 == 0:  # every other row is plenty
            for x in range(0, stride, bpp * 2):
                k = bytes(line[x:x + 3]); counts[k] = counts.get(k, 0) + 1
        prev = line
    total = sum(counts.values())
    return len(counts), 1 - max(counts.values()) / total


def api(url, token, path):
    req = urllib.request.Request(url + "api/v1/" + path, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def texts(wd, ids):
    return wd.js("return arguments[0].map(i => document.getElementById(i).textContent)", ids)


def row_keys(wd, table):
    return set(wd.js("return [...document.querySelectorAll('#%s tbody tr')].map(r => r.dataset.key)" % table))


def login(wd, url, token):
    wd.go(url)
    wd.wait("return !document.getElementById('login-view').hidden", "the login form")
    wd.type("#token", token)
    wd.click("#login-button")
    wd.wait("return document.body.dataset.loaded", "the page to load its data")


def logout(wd):
    wd.click("#logout")
    wd.wait("return !document.getElementById('login-view').hidden && !document.body.dataset.loaded",
            "the login form after logging out")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--shot", required=True)
    a = ap.parse_args()
    url = a.url if a.url.endswith("/") else a.url + "/"
    ex = json.load(open(a.expect))
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        print("dashboard_browser: chromium and chromedriver are needed (scripts/install-deps.sh "
              "installs Debian's chromium and chromium-driver)", file=sys.stderr)
        return 2
    prof = tempfile.mkdtemp(prefix="rgpu-chromium.")
    wd = WebDriver(driver, chromium, prof)
    try:
        # --- a provider: its balance, payouts, sessions on its own GPU only, utilisation chart
        p = ex["provider"]
        login(wd, url, p["token"])
        check(wd.js("return document.body.dataset.role") == "provider", "provider: logged in as a provider")
        got = texts(wd, ["balance-earned", "balance-paid", "balance-pending", "balance-sessions"])
        want = [p["earned"], p["paid"], p["pending"], str(p["sessions"])]
        check(got == want, "provider: balance shows earned/paid/pending/sessions %s (got %s)" % (want, got))
        check(float(p["earned"]) > 0 and float(p["paid"]) > 0, "provider: the figures are not zero (%s)" % want)
        keys = row_keys(wd, "sessions")
        check(keys == set(p["leases"]), "provider: sessions table holds exactly its %d sessions (got %d)" % (len(p["leases"]), len(keys)))
        check(not keys & set(p["not_leases"]), "provider: no session of another provider's GPU")
        payouts = wd.js("return [...document.querySelectorAll('#payouts tbody td')].map(t => t.textContent)")
        check(p["payout_ref"] in payouts and p["paid"] in payouts, "provider: the payout (%s, %s) is listed" % (p["paid"], p["payout_ref"]))
        pts = wd.wait("const s = document.querySelector('svg.util-chart[data-provider=\"%s\"]');"
                      "return s && s.querySelector('path.busy') && Number(s.dataset.points)" % p["provider"],
                      "a utilisation chart with a line", 40)
        check(pts >= 2, "provider: utilisation chart of %s drawn from %s samples" % (p["provider"], pts))
        others = wd.js("return [...document.querySelectorAll('svg.util-chart')].map(s => s.dataset.provider)")
        check(set(others) == {p["provider"]}, "provider: charts only of its own GPUs (%s)" % others)
        peak = wd.js("return document.querySelector('svg.util-chart[data-provider=\"%s\"]')"
                     ".parentNode.querySelector('.peak-leased').textContent" % p["provider"])
        check(peak == p["peak_leased"], "provider: the chart shows the memory a running session leased (%s, got %s)" % (p["peak_leased"], peak))
        bars = wd.js("return [...document.querySelectorAll('#earnings-chart rect.bar title')].map(t => t.textContent)")
        from decimal import Decimal
        total = sum((Decimal(b.rsplit(": ", 1)[1]) for b in bars), Decimal(0))
        check(len(bars) >= 1 and total == Decimal(p["earned"]),
              "provider: earnings-per-day bars add up to %s (got %s)" % (p["earned"], bars))
        png = wd.shot()
        open(a.shot, "wb").write(png)
        colours, ink = png_colours(png)
        check(colours >= 8 and ink > 0.02,
              "provider: the screenshot is not blank (%d colours, %.1f%% unlike the background)" % (colours, 100 * ink))
        logout(wd)

        # --- a user: spend, its own sessions only, no providers' data
        u = ex["user"]
        login(wd, url, u["token"])
        check(wd.js("return document.body.dataset.role") == "user", "user: logged in as a user")
        got = texts(wd, ["spend-total", "spend-sessions"])
        want = [u["spent"], str(u["sessions"])]
        check(got == want, "user: spend shows spent/sessions %s (got %s)" % (want, got))
        check(float(u["spent"]) > 0, "user: the spend is not zero")
        keys = row_keys(wd, "sessions")
        check(keys == set(u["leases"]), "user: sessions table holds exactly its %d sessions (got %d)" % (len(u["leases"]), len(keys)))
        check(not keys & set(u["not_leases"]), "user: none of another user's sessions")
        check(wd.js("return document.getElementById('gpus-view').hidden && document.getElementById('provider-view').hidden"),
              "user: providers' views are hidden")
        cells = wd.js("return document.body.innerText")
        check(p["earned"] not in cells or p["earned"] == u["spent"], "user: the provider's earnings are not on its page")
        png2 = wd.shot()
        colours, ink = png_colours(png2)
        check(colours >= 8 and ink > 0.02, "user: the screenshot is not blank (%d colours)" % colours)
        logout(wd)

        # --- an admin: the ledger head verified, every session, names as text (never markup)
        ad = ex["admin"]
        login(wd, url, ad["token"])
        got = texts(wd, ["ledger-size", "ledger-signature", "ledger-audit"])
        check(got == [str(ad["ledger_size"]), "valid", "ok"], "admin: ledger %s entries, signature valid, audit ok (got %s)" % (ad["ledger_size"], got))
        keys = row_keys(wd, "sessions")
        check(set(u["leases"]) | set(u["not_leases"]) <= keys, "admin: every session is listed")
        check(wd.js("return document.querySelector('#xss') === null"), "admin: a user named with markup is shown as text")
        check(ad["evil_name"] in wd.js("return document.getElementById('sessions').innerText"),
              "admin: that user's name appears, as text")
        logout(wd)
    finally:
        wd.close()
        shutil.rmtree(prof, ignore_errors=True)

    # --- the API refuses what a role may not see (what the page hides, the server withholds)
    u, o = ex["user"], ex["other_user"]
    for path in ("providers", "utilisation"):
        st, body = api(url, u["token"], path)
        check(st == 403 and "permission denied" in body.get("error", ""), "api: a user gets 403 for %s (%d)" % (path, st))
    st, rows = api(url, u["token"], "sessions")
    check(st == 200 and {r["lease_id"] for r in rows} == set(u["leases"]) and all("earnings" not in r for r in rows),
          "api: a user's sessions are its own, without the provider's earnings")
    st, rows = api(url, u["token"], "usage?by=day")
    check(st == 200 and rows and all("earnings" not in r and "cost" in r for r in rows),
          "api: a user's usage shows its cost, not the provider's earnings")
    st, rows = api(url, ex["provider"]["token"], "usage?by=day")
    check(st == 200 and rows and all("cost" not in r and "earnings" in r for r in rows),
          "api: a provider's usage shows its earnings, not the user's cost")
    st, rows = api(url, u["token"], "balances")
    check(st == 200 and [r["id"] for r in rows] == [u["token_id"]], "api: a user's balances are its own")
    st, rows = api(url, o["token"], "sessions")
    check(st == 200 and not {r["lease_id"] for r in rows} & set(u["leases"]), "api: the other user sees none of the user's sessions")
    st, rows = api(url, ex["provider"]["token"], "balances")
    check(st == 200 and [r["name"] for r in rows] == [ex["provider"]["provider"]], "api: a provider's balances are its own provider's")
    st, body = api(url, "rgpu_" + "0" * 40, "whoami")
    check(st == 401, "api: an unknown token gets 401")
    st, body = api(url, ex["revoked"], "whoami")
    check(st == 401 and "revoked" in body.get("error", ""), "api: a revoked token gets 401")
    if FAILS:
        print("dashboard_browser: %d check(s) failed" % len(FAILS), file=sys.stderr)
        return 1
    print("dashboard_browser: all checks hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
