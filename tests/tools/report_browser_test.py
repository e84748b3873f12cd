#!/usr/bin/python3
"""nudgectl report --html in a real browser (Debian's chromium, headless).

Simulates a month with a holdout and two template variants, writes the report page,
and loads it in chromium through the DevTools protocol (a minimal WebSocket client,
stdlib only): no console message, no exception, no failed load; the SVG charts exist
in the DOM and have a size; the screenshot is not blank and shows the bars' colour.
A control page with a console.error and a missing image must be caught, so the
checks are shown to fail when they should.

usage: report_browser_test.py NUDGECTL
"""
import base64
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

POLICY = """version: 1
store: nudge.db
audit_log: audit.jsonl
payment: {deadline: 2h, closes_after: 10d, stop_before_close: 1h}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: trial, template: [gentle, warm]}
      - {name: second, after: 24h, channel: trial, template: gentle}
limits: {per_order: 2, per_buyer: [{max: 1, within: 12h}]}
experiment: {holdout: 10%, salt: "browser", attribution_window: 72h}
channels:
  trial: {type: discard}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it closes in {{closes_in}}."}
  warm:
    en: {subject: "Still thinking about {{first_order_id}}?", body: "Hi {{buyer_name}}, it is kept for you."}
"""

BAR = (0x4A, 0x7E, 0xBB)  # .bar fill in the page's stylesheet


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def write_feed(path):
    rnd = random.Random(7)
    start = 1790812800  # 2026-10-01T00:00:00Z
    with open(path, "w") as f:
        for i in range(800):
            placed = start + rnd.randrange(30 * 86400)
            f.write(json.dumps({"type": "order", "shop": "s1", "order_id": "o%d" % i, "buyer_id": "b%d" % i,
                                "buyer_country": "US", "amount": "%d.50" % rnd.randrange(5, 90),
                                "currency": "USD", "placed_at": iso(placed),
                                "status": "awaiting_payment"}) + "\n")
            fate = rnd.randrange(3)
            if fate < 2:
                paid = placed + (rnd.randrange(7000) if fate == 0 else 7200 + rnd.randrange(4 * 86400))
                f.write(json.dumps({"type": "status", "shop": "s1", "order_id": "o%d" % i, "status": "paid",
                                    "at": iso(paid)}) + "\n")


# --- a minimal WebSocket client (RFC 6455): enough for the DevTools protocol ---
class WebSocket:
    def __init__(self, url):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (m.group(3), m.group(1), m.group(2), key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                fail("DevTools closed the WebSocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            fail("DevTools refused the WebSocket: %r" % head[:200])
        self.next_id = 0

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                fail("DevTools closed the connection")
            out += chunk
        return out

    def send(self, method, params=None):
        self.next_id += 1
        data = json.dumps({"id": self.next_id, "method": method, "params": params or {}}).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        return self.next_id

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            message += payload
            if b0 & 0x80:
                return json.loads(message)

    def call(self, method, params=None, events=None):
        """Sends a command and returns its result; events that arrive meanwhile go to `events`."""
        want = self.send(method, params)
        while True:
            m = self.recv()
            if m.get("id") == want:
                if "error" in m:
                    fail("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if events is not None and "method" in m:
                events.append(m)


def problems_of(events):
    """Console messages, exceptions and failed loads among DevTools events."""
    out = []
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled":
            out.append("console.%s: %s" % (p.get("type"), [a.get("value") for a in p.get("args", [])]))
        elif e["method"] == "Runtime.exceptionThrown":
            out.append("exception: %s" % p.get("exceptionDetails", {}).get("text"))
        elif e["method"] == "Log.entryAdded":
            entry = p.get("entry", {})
            out.append("log %s: %s" % (entry.get("level"), entry.get("text")))
        elif e["method"] == "Network.loadingFailed":
            out.append("failed load: %s" % p.get("errorText"))
    return out


def png_pixels(data):
    """Decodes an 8-bit RGB or RGBA PNG (what chromium writes) into (width, height, rows)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("the screenshot is not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    if depth != 8 or ctype not in (2, 6):
        fail("unexpected PNG format (depth %d, colour type %d)" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif f == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        prev = line
    return w, h, bpp, rows


class Browser:
    def __init__(self, tmp):
        chromium = shutil.which("chromium")
        if not chromium:
            fail("chromium is not installed (scripts/install-deps installs it)")
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
             "--user-data-dir=" + os.path.join(tmp, "profile"), "--remote-debugging-port=0",
             "--window-size=1000,2200", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
            if not line and self.proc.poll() is not None:
                break
        if not port:
            self.close()
            fail("chromium did not start its DevTools server")
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=30))
        page = [t for t in targets if t.get("type") == "page"][0]
        self.ws = WebSocket(page["webSocketDebuggerUrl"])

    def load(self, path):
        """Loads the file; returns (events, evaluate)."""
        events = []
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.ws.call(domain + ".enable", events=events)
        events.clear()
        self.ws.call("Page.navigate", {"url": "file://" + path}, events=events)
        deadline = time.time() + 60
        while not any(e["method"] == "Page.loadEventFired" for e in events):
            if time.time() > deadline:
                fail("the page did not finish loading")
            m = self.ws.recv()
            if "method" in m:
                events.append(m)
        # Let late messages arrive: a round trip after the load event.
        self.ws.call("Runtime.evaluate", {"expression": "1"}, events=events)
        return events

    def evaluate(self, expression):
        r = self.ws.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return r["result"].get("value")

    def screenshot(self):
        r = self.ws.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        return base64.b64decode(r["data"])

    def close(self):
        self.proc.kill()
        self.proc.wait()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 64
    nudgectl = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="nudge-browser-")
    browser = None
    try:
        policy = os.path.join(tmp, "nudge.yaml")
        with open(policy, "w") as f:
            f.write(POLICY)
        feed = os.path.join(tmp, "october.jsonl")
        write_feed(feed)
        store, page = os.path.join(tmp, "trial.db"), os.path.join(tmp, "report.html")
        r = subprocess.run([nudgectl, "--config", policy, "simulate", "--orders", feed, "--store", store],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            fail("simulate: " + r.stderr)
        r = subprocess.run([nudgectl, "--config", policy, "report", "--store", store, "--since", "2026-10-01",
                            "--until", "2026-11-01", "--html", page], capture_output=True, text=True)
        if r.returncode != 0:
            fail("report --html: " + r.stderr)
        html = open(page, encoding="utf-8").read()
        # Offline: nothing to fetch (the only URL is the SVG namespace name).
        for m in re.finditer(r"""(?:src|href)\s*=\s*["']([^"']*)["']|url\(|@import""", html):
            if not (m.group(1) or "").startswith(("data:", "#")):
                fail("the page refers to something outside itself: " + m.group(0))
        if "<script" in html:
            fail("the page carries a script")

        browser = Browser(tmp)
        # The control: a page with a console error and a missing image must be caught.
        control = os.path.join(tmp, "control.html")
        with open(control, "w") as f:
            f.write('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<script>console.error("control")</script><img src="missing.png"></body></html>')
        found = problems_of(browser.load(control))
        if not any("control" in p for p in found) or not any("failed load" in p or "log error" in p for p in found):
            fail("the checks do not catch a console error and a missing image: %s" % found)

        found = problems_of(browser.load(page))
        if found:
            fail("the report page logged: %s" % found)
        dom = browser.evaluate("""JSON.stringify({
            svgs: [...document.querySelectorAll('svg.chart')].map(s => [s.id, s.getBoundingClientRect().width,
                                                                       s.getBoundingClientRect().height]),
            bars: document.querySelectorAll('#by-step rect.bar').length,
            variants: [...document.querySelectorAll('#by-variant text.label')].map(t => t.textContent),
            whiskers: document.querySelectorAll('line.whisker').length,
            hours: document.querySelectorAll('#hours rect.bar').length,
            interval: document.querySelectorAll('#uplift line.interval, #uplift circle.point').length,
            totals: document.querySelectorAll('#totals tr').length})""")
        dom = json.loads(dom)
        ids = sorted(s[0] for s in dom["svgs"])
        if ids != ["by-step", "by-variant", "hours", "uplift"]:
            fail("expected the four charts, found %s" % ids)
        if any(w <= 0 or h <= 0 for _, w, h in dom["svgs"]):
            fail("a chart has no size: %s" % dom["svgs"])
        if dom["bars"] != 2 or sorted(dom["variants"]) != ["gentle", "warm"] or dom["whiskers"] < 12:
            fail("the bar charts are incomplete: %s" % dom)
        if dom["hours"] != 24 or dom["interval"] != 4 or dom["totals"] < 8:
            fail("the histogram, the uplift interval or the totals are incomplete: %s" % dom)

        w, h, bpp, rows = png_pixels(browser.screenshot())
        colours, bar_pixels, dark = set(), 0, 0
        for row in rows:
            for x in range(0, w * bpp, bpp):
                px = (row[x], row[x + 1], row[x + 2])
                colours.add(px)
                if all(abs(px[i] - BAR[i]) <= 6 for i in range(3)):
                    bar_pixels += 1
                if sum(px) < 200:
                    dark += 1
        if len(colours) < 20 or bar_pixels < 2000 or dark < 500:
            fail("the screenshot looks blank: %d colours, %d bar pixels, %d dark pixels" % (
                len(colours), bar_pixels, dark))
        print("ok: %s loaded in %s with no console message, exception or failed load; charts %s; "
              "screenshot %dx%d with %d colours, %d bar-coloured and %d dark pixels"
              % (os.path.basename(page), subprocess.run(["chromium", "--version"], capture_output=True,
                                                         text=True).stdout.strip(),
                 ", ".join("%s %dx%d" % (i, sw, sh) for i, sw, sh in dom["svgs"]), w, h, len(colours),
                 bar_pixels, dark))
        return 0
    finally:
        if browser:
            browser.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
