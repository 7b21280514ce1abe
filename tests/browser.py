"""Headless Chromium driven through its DevTools protocol (a websocket, aiohttp's client), for
tests that look at a page as a user sees it: Debian's `chromium`, never a downloaded browser.

    with Chromium(tmp_path) as page:
        page.open("file:///.../report.html")
        page.js("document.title")
        png = page.screenshot(page.box("img"))
"""
from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--window-size=1400,1000")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with a fresh profile under `workdir`, one page."""

    def __init__(self, workdir: Path, timeout: float = 30.0):
        self.workdir = Path(workdir)
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.proc = None
        self.session = self.ws = None
        self.next_id = 0
        self.requests: list[str] = []     # every URL the page asked for (after Network.enable)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self):
        exe = chromium_binary()
        if exe is None:
            raise BrowserError("chromium is not installed (.ci/system-deps.sh installs Debian's package)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=self.workdir))   # fresh every time
        self.log = open(self.workdir / "chromium.log", "w")
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                      "about:blank"], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.time() + self.timeout
            while not port_file.is_file() or not port_file.read_text().strip():
                if self.proc.poll() is not None or time.time() > deadline:
                    raise BrowserError(f"chromium did not start: see {self.workdir / 'chromium.log'}")
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            self.loop.run_until_complete(self._connect(port))
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.__exit__(None, None, None)          # never leave a browser behind
            raise
        return self

    def __exit__(self, *exc):
        if self.session is not None:
            self.loop.run_until_complete(self._close())
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.loop.close()
        self.log.close()

    async def _connect(self, port: int) -> None:
        import aiohttp
        self.session = aiohttp.ClientSession()
        deadline = time.time() + self.timeout
        while True:
            try:
                async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
                    pages = [t for t in await r.json() if t.get("type") == "page"]
                if pages:
                    break
            except aiohttp.ClientError:
                pass
            if time.time() > deadline:
                raise BrowserError("no page target in chromium")
            await asyncio.sleep(0.1)
        self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)

    async def _close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()

    # ------------------------------------------------------------------ protocol
    async def _call(self, method: str, params: dict):
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_str(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), self.timeout)
            if msg.type.name != "TEXT":
                raise BrowserError(f"devtools connection closed during {method}")
            data = json.loads(msg.data)
            if data.get("method") == "Network.requestWillBeSent":
                self.requests.append(data["params"]["request"]["url"])
            if data.get("id") == my_id:
                if "error" in data:
                    raise BrowserError(f"{method}: {data['error']}")
                return data.get("result", {})

    def call(self, method: str, **params):
        return self.loop.run_until_complete(self._call(method, params))

    # ------------------------------------------------------------------ page helpers
    def js(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise BrowserError(f"javascript error in {expression[:80]!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float | None = None):
        """Poll until a JavaScript expression is truthy; returns its value."""
        deadline = time.time() + (timeout or self.timeout)
        while True:
            v = self.js(expression)
            if v:
                return v
            if time.time() > deadline:
                raise BrowserError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", f"{url} to load")

    def screenshot(self, box: dict | None = None) -> bytes:
        """PNG of the viewport, or of a box {x, y, width, height} (CSS pixels) of the page."""
        params = {"format": "png", "captureBeyondViewport": True}
        if box:
            params["clip"] = {**box, "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
