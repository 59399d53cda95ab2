// Drives the operator's console in Debian's chromium, through playwright-core, as an operator
// would: forms and links, and the console's one script keeping pages current. Prints what it
// saw as one JSON document; screenshots at a desktop and a phone width go to OUT_DIR.
//
// usage: node console.mjs OUT_DIR STATE_FILE BASE login TOKEN ENDPOINT_ID ARTICLE_JSON
//          logs in with TOKEN through the form, then looks for the endpoint on the overview;
//          publishes ARTICLE_JSON through the API with TOKEN and waits for the overview to list
//          it among the latest events without a reload; the session (its cookie) is saved to
//          STATE_FILE
//        node console.mjs OUT_DIR STATE_FILE BASE resend ENDPOINT_ID
//          with that session, opens the endpoint's page, resends its newest failed delivery
//          with its button, and waits, without reloading, until the page shows that
//          delivery's newest attempt with a 2xx
//        node console.mjs OUT_DIR STATE_FILE BASE robot KIND URL
//          with that session, fills the add-endpoint form for a chat robot, previews its
//          message, then adds it
// Environment: CHROMIUM (default /usr/bin/chromium).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true },
};
/** How long the page may take to show what happened; it only guards against a hang. */
const LIVE_WAIT_MS = 60_000;
/** The console's stream, which a page cut when it goes (navigation, closing): not an error. */
const STREAM = /\/admin\/events\/stream/;

const [outDir, stateFile, base, mode, ...args] = process.argv.slice(2);
if (!outDir || !stateFile || !base || !["login", "resend", "robot"].includes(mode)) {
  console.error("usage: node console.mjs OUT_DIR STATE_FILE BASE (login TOKEN ENDPOINT_ID ARTICLE | resend ENDPOINT_ID | robot KIND URL)");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const browser = await launchChromium();

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
  page.on("requestfailed", (r) => {
    const failure = r.failure()?.errorText;
    // The page's own stream and fetches, cut when the page goes: not errors.
    if (failure === "net::ERR_ABORTED" && (STREAM.test(r.url()) || r.resourceType() === "fetch")) return;
    errors.failed.push({ url: r.url(), failure });
  });
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
      scripts: [...document.scripts].map((s) => s.getAttribute("src")),
      streaming: document.body.dataset.streaming ?? null,
      liveEvents: [...document.querySelectorAll("#live-events li")].map((li) => ({
        type: text(li.querySelector("code")),
        title: text(li.querySelector("a")),
        href: li.querySelector("a")?.getAttribute("href"),
        time: text(li.querySelector("time")),
      })),
      kind: document.querySelector("#kind")?.dataset.kind ?? null,
      preview: text(document.querySelector("#preview pre")),
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

async function logIn(token, endpoint, article) {
  const { context, page, errors } = await open("desktop", false);
  await page.goto(`${base}/admin`, { waitUntil: "load" });
  const form = await facts(page, endpoint);
  const login = await shoot(page, "console-login-desktop");
  await page.fill("input[name=token]", token);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click("form.login button[type=submit]")]);
  // The page's stream is open before the article is published.
  await page.waitForFunction(() => document.body.dataset.streaming === "on", null, { timeout: LIVE_WAIT_MS });
  const published = JSON.parse(article);
  const answer = await fetch(`${base}/api/v1/articles`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: article,
  });
  if (!answer.ok) throw new Error(`publishing failed: ${answer.status} ${await answer.text()}`);
  await page.waitForFunction(
    (title) => [...document.querySelectorAll("#live-events li a")].some((a) => a.textContent === title),
    published.title,
    { timeout: LIVE_WAIT_MS },
  );
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
  // The page brings the outcome in by itself: no reload.
  await page.evaluate(() => { window.notReloaded = true; });
  await page.waitForFunction(
    (id) => {
      const code = document.querySelector(`div.delivery[id="${id}"] tr.attempt td.code`);
      return /^2\d\d$/.test(code?.textContent.trim() ?? "");
    },
    failed.id,
    { timeout: LIVE_WAIT_MS },
  );
  const seen = await facts(page, endpoint);
  const reloaded = !(await page.evaluate(() => window.notReloaded === true));
  const screenshot = await shoot(page, "console-endpoint-desktop");
  await context.close();
  return {
    resent: failed.id,
    before,
    afterClick,
    reloaded,
    desktop: { facts: seen, errors, screenshot },
    phone: await onPhone(url, "console-endpoint-phone", endpoint),
  };
}

async function addRobot(kind, robotUrl) {
  const { context, page, errors } = await open("desktop", true);
  await page.goto(`${base}/admin/endpoints/new`, { waitUntil: "load" });
  await page.fill("input[name=url]", robotUrl);
  await page.selectOption("select[name=kind]", kind);
  await page.fill("input[name=description]", "办公室工作群");
  await Promise.all([
    page.waitForURL(`${base}/admin/endpoints`),
    page.click("button[name=preview]"),
  ]);
  const previewed = await facts(page, null);
  const previewShot = await shoot(page, `console-robot-preview-desktop`);
  // The phone sees the same preview: the form is posted again there.
  const { context: phoneContext, page: phone, errors: phoneErrors } = await open("phone", true);
  await phone.goto(`${base}/admin/endpoints/new`, { waitUntil: "load" });
  await phone.fill("input[name=url]", robotUrl);
  await phone.selectOption("select[name=kind]", kind);
  await Promise.all([phone.waitForURL(`${base}/admin/endpoints`), phone.click("button[name=preview]")]);
  const phoneFacts = await facts(phone, null);
  const phoneShot = await shoot(phone, `console-robot-preview-phone`);
  await phoneContext.close();
  await Promise.all([
    page.waitForURL(/\/admin\/endpoints\/[^/?]+\?done=created$/),
    page.click("form.endpoint button[type=submit]:not([name])"),
  ]);
  const added = await facts(page, null);
  const addedShot = await shoot(page, `console-robot-desktop`);
  await context.close();
  return {
    preview: { facts: previewed, errors, screenshot: previewShot },
    phone: { facts: phoneFacts, errors: phoneErrors, screenshot: phoneShot },
    added: { facts: added, errors, screenshot: addedShot },
  };
}

let report;
try {
  report =
    mode === "login"
      ? await logIn(args[0], args[1], args[2])
      : mode === "resend"
        ? await resend(args[0])
        : await addRobot(args[0], args[1]);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
