// Reads the feed at a URL with rss-parser, configured as a news reader configures it, and prints
// what rss-parser made of it as JSON, untouched: the Rust test compares it with what it published.
//
// Usage: node rss-parser.mjs FEED_URL
//
// rss-parser maps only a few elements by itself (RSS: title, link, guid, pubDate, dc:creator,
// description, content:encoded, enclosure, category; Atom: title, the alternate link, id,
// published, the first author's name, summary, content). Everything else a reader wants is asked
// for with customFields, as its README shows; `keepArray` keeps every occurrence of an element.
import Parser from "rss-parser";

const url = process.argv[2];
if (!url) {
  console.error("usage: node rss-parser.mjs FEED_URL");
  process.exit(2);
}

const parser = new Parser({
  customFields: {
    feed: ["subtitle", "icon", "logo"],
    item: [
      // Media RSS: the images, with their attributes under `$`.
      ["media:content", "mediaContent", { keepArray: true }],
      ["media:thumbnail", "mediaThumbnail", { keepArray: true }],
      // RSS: every dc:creator (rss-parser's own `creator` is the first) and dc:contributor.
      ["dc:creator", "creators", { keepArray: true }],
      ["dc:contributor", "contributors", { keepArray: true }],
      // Atom: every author and contributor, the categories (RSS gets them without asking),
      // every link (enclosures are links) and the last change.
      ["author", "authors", { keepArray: true }],
      ["contributor", "contributors", { keepArray: true }],
      ["category", "categories", { keepArray: true }],
      ["link", "links", { keepArray: true }],
      ["updated", "updated"],
    ],
  },
});

try {
  const feed = await parser.parseURL(url);
  process.stdout.write(JSON.stringify(feed));
} catch (error) {
  console.error(`rss-parser could not read ${url}: ${error.stack ?? error}`);
  process.exit(1);
}
