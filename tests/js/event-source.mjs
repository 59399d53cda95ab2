// A scope's page in Debian's chromium, driven by playwright-core, with its live notice: the
// page's own script follows the scope's public stream with the browser's EventSource. The test
// (tests/api/events_stream.rs) publishes, stops and restarts the server, and tells this script
// what the notice should show next; the browser must reconnect by itself and resume with
// Last-Event-ID.
//
// usage: node event-source.mjs PAGE_URL
// Prints one JSON document per line on stdout:
//   {"step":"connected"}                        once the page's stream has answered
//   {"step":"seen","title":…,"href":…}          for each line "expect TITLE" read on stdin, once
//                                               the notice shows that title
//   {"step":"report","streams":[…],"errors":{…}} for the line "done", then it exits; streams
//                                               lists every stream request the page made, with
//                                               its Last-Event-ID header (null when none)
// Environment: CHROMIUM (default /usr/bin/chromium).

import { createInterface } from "node:readline";
import { launchChromium } from "./chromium.mjs";

// Only a guard against a hang: each wait ends as soon as what it waits for happens.
const PATIENCE_MS = 60_000;

const [pageUrl] = process.argv.slice(2);
if (!pageUrl) {
  console.error("usage: node event-source.mjs PAGE_URL");
  process.exit(2);
}

const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const errors = { page: [], console: [] };
  page.on("pageerror", (error) => errors.page.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") errors.console.push(message.text());
  });
  const streams = [];
  page.on("request", async (request) => {
    if (request.resourceType() !== "eventsource") return;
    const entry = { url: request.url(), lastEventId: null };
    streams.push(entry);
    const headers = await request.allHeaders().catch(() => request.headers());
    entry.lastEventId = headers["last-event-id"] ?? null;
  });
  const answered = page.waitForResponse(
    (response) => response.request().resourceType() === "eventsource" && response.status() === 200,
    { timeout: PATIENCE_MS },
  );
  await page.goto(pageUrl, { waitUntil: "load" });
  await answered;
  say({ step: "connected" });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.startsWith("expect ")) {
      const title = line.slice("expect ".length);
      await page.waitForFunction(
        (title) => {
          const notice = document.getElementById("live");
          return !notice.hidden && notice.querySelector("a.new").textContent === title;
        },
        title,
        { timeout: PATIENCE_MS },
      );
      const href = await page.$eval("#live a.new", (link) => link.getAttribute("href"));
      say({ step: "seen", title, href });
    } else if (line === "done") {
      say({ step: "report", streams, errors });
      break;
    }
  }
} finally {
  await browser.close();
}
