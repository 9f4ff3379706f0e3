// Opens the admin dashboard in Debian's Chromium (never a downloaded
// browser) and prints what it shows, one JSON line per half second:
//   {"t": ms since start, "status": "ready", "totals": {field: value},
//    "apps": {name: {field: {"text": shown, "value": raw}}}}
// Keeps a screenshot of the busiest moment (the highest requests/s seen).
// Watches for SECONDS (default 60), or until its stdin ends, which is how
// tests/e2e/dashboard.rs stops it. Also handy by hand:
//   node dashboard.mjs URL SCREENSHOT.png [SECONDS]
import { chromium } from "playwright-core";

const [url, screenshot, secondsArgument] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node dashboard.mjs URL SCREENSHOT.png [SECONDS]");
  process.exit(2);
}
const seconds = Number(secondsArgument ?? 60);
let stdinEnded = false;
process.stdin.on("end", () => (stdinEnded = true));
process.stdin.resume();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

// Reads every number the page shows, by its data attributes.
function readDom() {
  const cell = (node) => ({ text: node.textContent, value: node.dataset.value ?? "" });
  const apps = {};
  for (const node of document.querySelectorAll("[data-app][data-field]")) {
    (apps[node.dataset.app] ??= {})[node.dataset.field] = cell(node);
  }
  const totals = {};
  for (const node of document.querySelectorAll("[data-total]")) {
    totals[node.dataset.total] = cell(node);
  }
  return { status: document.querySelector("#status")?.textContent ?? "", totals, apps };
}

try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 480 } });
  page.on("pageerror", (error) => console.error("page error:", error.message));
  page.on("console", (message) => {
    if (message.type() === "error") console.error("console:", message.text());
  });
  const started = Date.now();
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("[data-app][data-field=rps]", { timeout: 15000 });
  let busiest = -1;
  while (!stdinEnded && Date.now() - started < seconds * 1000) {
    const sample = { t: Date.now() - started, ...(await page.evaluate(readDom)) };
    console.log(JSON.stringify(sample));
    const rps = Number(sample.totals.rps?.value || 0);
    if (rps > busiest) {
      busiest = rps;
      await page.screenshot({ path: screenshot, fullPage: true });
    }
    await page.waitForTimeout(500);
  }
} finally {
  await browser.close();
  process.stdin.destroy();
}
