// Shows pages to Debian's chromium, driven by playwright-core (which never downloads a browser
// of its own), at a desktop and a phone width, and prints what it saw as one JSON document.
//
// usage: node browser.mjs OUT_DIR NAME=URL... [search=TEXT]... [copy=NAME]
//   NAME=URL    a page to load at both widths; a full-page screenshot of each is saved in
//               OUT_DIR as NAME-desktop.png and NAME-phone.png
//   search=TEXT typed into the search box of the first page and submitted (desktop)
//   copy=NAME   on that page (desktop), the Atom address's Copy button is clicked, with the
//               clipboard allowed (and read back) and again without it
// Environment: CHROMIUM (default /usr/bin/chromium).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 },
  phone: {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
  },
};

const [outDir, ...rest] = process.argv.slice(2);
if (!outDir || rest.length === 0) {
  console.error("usage: node browser.mjs OUT_DIR NAME=URL... [search=TEXT]... [copy=NAME]");
  process.exit(2);
}
const pages = [];
const searches = [];
let copyPage = null;
for (const arg of rest) {
  const at = arg.indexOf("=");
  const [key, value] = [arg.slice(0, at), arg.slice(at + 1)];
  if (key === "search") searches.push(value);
  else if (key === "copy") copyPage = value;
  else pages.push({ name: key, url: value });
}
mkdirSync(outDir, { recursive: true });

const browser = await launchChromium();

/** A page in a fresh context that records every error it meets. */
async function open(context) {
  const page = await context.newPage();
  const errors = { console: [], page: [], failed: [], http: [] };
  page.on("console", (message) => {
    if (message.type() === "error") {
      errors.console.push({ text: message.text(), location: message.location().url });
    }
  });
  page.on("pageerror", (error) => errors.page.push(String(error)));
  page.on("requestfailed", (request) =>
    errors.failed.push({ url: request.url(), failure: request.failure()?.errorText }),
  );
  page.on("response", (response) => {
    if (response.status() >= 400) errors.http.push({ url: response.url(), status: response.status() });
  });
  return { page, errors };
}

/** Scrolls to the end and back, so that lazy images load, and waits until every image is
 * done (loaded or failed). */
async function settle(page) {
  await page.evaluate(async () => {
    for (let y = 0; y < document.documentElement.scrollHeight; y += window.innerHeight / 2) {
      window.scrollTo(0, y);
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    window.scrollTo(0, 0);
  });
  await page.waitForFunction(() => [...document.images].every((image) => image.complete));
  await page.evaluate(() => document.fonts.ready);
}

/** What the page shows, as data. */
function facts(page) {
  return page.evaluate(() => {
    const text = (element) => element?.textContent.trim() ?? null;
    const root = document.documentElement;
    const article = (li) => {
      const link = li.querySelector("h3 a");
      const time = li.querySelector("time");
      const image = li.querySelector("img");
      const section = li.querySelector("a.section");
      const box = image?.getBoundingClientRect();
      return {
        title: text(link),
        href: link?.getAttribute("href") ?? null,
        lang: li.getAttribute("lang"),
        datetime: time?.getAttribute("datetime") ?? null,
        time: text(time),
        section: section ? { title: text(section), href: section.getAttribute("href") } : null,
        source: text(li.querySelector(".source")),
        editor: text(li.querySelector(".editor")),
        summary: text(li.querySelector(".summary")),
        image: image
          ? {
              src: image.getAttribute("src"),
              alt: image.getAttribute("alt"),
              loading: image.getAttribute("loading"),
              complete: image.complete,
              naturalWidth: image.naturalWidth,
              width: box.width,
              right: box.right,
            }
          : null,
      };
    };
    // Elements that reach past the right edge of the viewport: what makes a page scroll sideways.
    const overflowing = [...document.body.querySelectorAll("*")]
      .filter((element) => element.getBoundingClientRect().right > root.clientWidth + 0.5)
      .slice(0, 10)
      .map((element) => `${element.tagName.toLowerCase()}.${element.className}`);
    const form = document.querySelector("form.search");
    return {
      title: document.title,
      lang: root.lang,
      h1: text(document.querySelector("h1")),
      crumbs: [...document.querySelectorAll(".crumbs li")].map((li) => ({
        text: text(li),
        href: li.querySelector("a")?.getAttribute("href") ?? null,
      })),
      alternates: [...document.querySelectorAll("link[rel=alternate]")].map((link) => ({
        type: link.type,
        href: link.getAttribute("href"),
      })),
      feeds: [...document.querySelectorAll(".feed code.url")].map((code) => ({
        id: code.id,
        value: text(code),
        selectAll: getComputedStyle(code).userSelect === "all",
      })),
      copyButtons: document.querySelectorAll("button[data-copy]").length,
      hub: text(document.querySelector("code.hub")),
      sectionLinks: [...document.querySelectorAll("a.title, #sections a")].map((a) => a.getAttribute("href")),
      search: form
        ? { action: form.getAttribute("action"), method: form.method, field: form.querySelector("input")?.name }
        : null,
      found: text(document.querySelector(".found")),
      articles: [...document.querySelectorAll("ol.articles > li")].map(article),
      scrollWidth: root.scrollWidth,
      clientWidth: root.clientWidth,
      overflowing,
    };
  });
}

async function visit({ name, url }, width) {
  const context = await browser.newContext({ ...VIEWPORTS[width], locale: "zh-CN" });
  const { page, errors } = await open(context);
  const response = await page.goto(url, { waitUntil: "load" });
  await settle(page);
  const screenshot = join(outDir, `${name}-${width}.png`);
  await page.screenshot({ path: screenshot, fullPage: true });
  const seen = { name, url, width, status: response.status(), facts: await facts(page), errors, screenshot };
  await context.close();
  return seen;
}

/** Types `text` into the first page's search box and submits it, as a reader would. */
async function submitSearch(text) {
  const context = await browser.newContext(VIEWPORTS.desktop);
  const { page, errors } = await open(context);
  await page.goto(pages[0].url, { waitUntil: "load" });
  await page.fill("form.search input[name=q]", text);
  await Promise.all([page.waitForURL(/\/search\?/), page.press("form.search input[name=q]", "Enter")]);
  await settle(page);
  const seen = { text, url: page.url(), facts: await facts(page), errors };
  await context.close();
  return seen;
}

/** Clicks the Atom address's Copy button and reads the clipboard back; or, in a browser
 * without the asynchronous clipboard, sees what the page falls back to (the selection). */
async function copyAddress(name, granted) {
  const target = pages.find((p) => p.name === name);
  const context = await browser.newContext(VIEWPORTS.desktop);
  if (granted) {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: new URL(target.url).origin,
    });
  } else {
    await context.addInitScript(() =>
      Object.defineProperty(Navigator.prototype, "clipboard", { get: () => undefined }),
    );
  }
  const { page, errors } = await open(context);
  await page.goto(target.url, { waitUntil: "load" });
  const button = page.locator("button[data-copy=feed-atom]");
  const before = await button.textContent();
  await button.click();
  await page.waitForFunction(
    () => {
      const b = document.querySelector("button[data-copy=feed-atom]");
      return b.textContent !== b.dataset.label;
    },
  );
  const seen = {
    before,
    after: await button.textContent(),
    field: await page.textContent("#feed-atom"),
    clipboard: granted ? await page.evaluate(() => navigator.clipboard.readText()) : null,
    selection: await page.evaluate(() => String(window.getSelection())),
    errors,
  };
  await context.close();
  return seen;
}

const report = { pages: [], searches: [], copy: null, copyWithoutClipboard: null };
try {
  for (const target of pages) {
    for (const width of Object.keys(VIEWPORTS)) report.pages.push(await visit(target, width));
  }
  for (const text of searches) report.searches.push(await submitSearch(text));
  if (copyPage) {
    report.copy = await copyAddress(copyPage, true);
    report.copyWithoutClipboard = await copyAddress(copyPage, false);
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
