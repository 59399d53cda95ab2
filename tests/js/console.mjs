// Drives the operator's console in Debian's chromium, through playwright-core, as an operator
// would: no script of the page's own, only forms and links. Prints what it saw as one JSON
// document; screenshots at a desktop and a phone width go to OUT_DIR.
//
// usage: node console.mjs OUT_DIR STATE_FILE BASE login TOKEN ENDPOINT_ID
//          logs in with TOKEN through the form, then looks for the endpoint on the overview;
//          the session (its cookie) is saved to STATE_FILE
//        node console.mjs OUT_DIR STATE_FILE BASE resend ENDPOINT_ID
//          with that session, opens the endpoint's page, resends its newest failed delivery
//          with its button, and reloads the page (a bounded number of times) until that
//          delivery's newest attempt shows a 2xx
// Environment: CHROMIUM (default /usr/bin/chromium).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true },
};
/** How many times the endpoint's page is reloaded while waiting for the resent delivery. */
const RELOADS = 100;

const [outDir, stateFile, base, mode, ...args] = process.argv.slice(2);
if (!outDir || !stateFile || !base || !["login", "resend"].includes(mode)) {
  console.error("usage: node console.mjs OUT_DIR STATE_FILE BASE (login TOKEN | resend) ENDPOINT_ID");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/** A page in a fresh context (with the saved session, if asked) that records every error. */
async function open(width, withSession) {
  const context = await browser.newContext({
    ...VIEWPORTS[width],
    locale: "zh-CN",
    ...(withSession ? { storageState: stateFile } : {}),
  });
  const page = await context.newPage();
  const errors = { console: [], page: [], failed: [], http: [] };
  page.on("console", (m) => m.type() === "error" && errors.console.push(m.text()));
  page.on("pageerror", (e) => errors.page.push(String(e)));
  page.on("requestfailed", (r) => errors.failed.push({ url: r.url(), failure: r.failure()?.errorText }));
  page.on("response", (r) => r.status() >= 400 && errors.http.push({ url: r.url(), status: r.status() }));
  return { context, page, errors };
}

/** What a console page shows, as data. */
function facts(page, endpoint) {
  return page.evaluate((endpoint) => {
    const text = (element) => element?.textContent.trim() ?? null;
    const root = document.documentElement;
    // Wide tables scroll inside their own box; anything else past the edge widens the page.
    const overflowing = [...document.body.querySelectorAll("*")]
      .filter((e) => !e.closest(".scroll") && e.getBoundingClientRect().right > root.clientWidth + 0.5)
      .slice(0, 10)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
    const row = document.querySelector(`tr[data-endpoint="${endpoint}"]`);
    return {
      url: location.href,
      title: document.title,
      lang: root.lang,
      h1: text(document.querySelector("h1")),
      flash: text(document.querySelector(".flash")),
      scripts: document.scripts.length,
      endpointRow: row
        ? { state: text(row.querySelector(".state")), href: row.querySelector("a")?.getAttribute("href") }
        : null,
      queueFailed: text(document.querySelector("#queue-failed .n")),
      deliveries: [...document.querySelectorAll("div.delivery")].map((d) => ({
        id: d.id,
        status: d.dataset.status,
        attempts: [...d.querySelectorAll("tr.attempt td.code")].map((td) => text(td)),
      })),
      forms: [...document.querySelectorAll("form[method=post]")].map((f) => ({
        action: f.getAttribute("action"),
        csrf: !!f.querySelector("input[name=csrf]")?.value,
      })),
      scrollWidth: root.scrollWidth,
      clientWidth: root.clientWidth,
      overflowing,
    };
  }, endpoint);
}

async function shoot(page, name) {
  const path = join(outDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The same page at the phone's width, with the session. */
async function onPhone(url, name, endpoint) {
  const { context, page, errors } = await open("phone", true);
  const response = await page.goto(url, { waitUntil: "load" });
  const seen = { status: response.status(), facts: await facts(page, endpoint), errors, screenshot: await shoot(page, name) };
  await context.close();
  return seen;
}

async function logIn(token, endpoint) {
  const { context, page, errors } = await open("desktop", false);
  await page.goto(`${base}/admin`, { waitUntil: "load" });
  const form = await facts(page, endpoint);
  const login = await shoot(page, "console-login-desktop");
  await page.fill("input[name=token]", token);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click("form.login button[type=submit]")]);
  const overview = await facts(page, endpoint);
  const screenshot = await shoot(page, "console-overview-desktop");
  await context.storageState({ path: stateFile });
  const cookies = await context.cookies();
  await context.close();
  return {
    form,
    login,
    desktop: { facts: overview, errors, screenshot },
    phone: await onPhone(`${base}/admin`, "console-overview-phone", endpoint),
    cookies: cookies.map(({ name, path, httpOnly, sameSite, secure, expires }) => ({
      name, path, httpOnly, sameSite, secure, expires,
    })),
  };
}

async function resend(endpoint) {
  const { context, page, errors } = await open("desktop", true);
  const url = `${base}/admin/endpoints/${endpoint}`;
  await page.goto(url, { waitUntil: "load" });
  const before = await facts(page, endpoint);
  const failed = before.deliveries.find((d) => d.status === "failed");
  if (!failed) throw new Error(`no failed delivery on ${url}: ${JSON.stringify(before.deliveries)}`);
  await Promise.all([
    page.waitForURL(/done=resent/),
    page.click(`div.delivery[id="${failed.id}"] form button[type=submit]`),
  ]);
  const afterClick = await facts(page, endpoint);
  let reloads = 0;
  let seen = afterClick;
  const succeeded = (f) =>
    f.deliveries.some((d) => d.id === failed.id && /^2\d\d$/.test(d.attempts[0] ?? ""));
  while (!succeeded(seen) && reloads < RELOADS) {
    await page.waitForTimeout(100);
    await page.reload({ waitUntil: "load" });
    reloads += 1;
    seen = await facts(page, endpoint);
  }
  const screenshot = await shoot(page, "console-endpoint-desktop");
  await context.close();
  return {
    resent: failed.id,
    before,
    afterClick,
    reloads,
    desktop: { facts: seen, errors, screenshot },
    phone: await onPhone(url, "console-endpoint-phone", endpoint),
  };
}

let report;
try {
  report = mode === "login" ? await logIn(args[0], args[1]) : await resend(args[0]);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
