"""Parses a feed file with Python feedparser and prints what it understood, as JSON.

The Rust interop test compares this with what it published. Usage: feedparser_dump.py FILE
"""
import calendar
import json
import sys

import feedparser


def when(parsed):
    # feedparser gives UTC struct_time; turn it into seconds since the epoch.
    return calendar.timegm(parsed) if parsed else None


def main(path):
    d = feedparser.parse(path)
    out = {
        "bozo": bool(d.bozo),
        "bozo_exception": str(d.get("bozo_exception", "")),
        "version": d.version,
        "title": d.feed.get("title"),
        "link": d.feed.get("link"),
        "language": d.feed.get("language"),
        "subtitle": d.feed.get("subtitle"),
        "updated": when(d.feed.get("updated_parsed")),
        "links": [{"rel": l.get("rel"), "href": l.get("href")} for l in d.feed.get("links", [])],
        "entries": [],
    }
    for e in d.entries:
        out["entries"].append({
            "id": e.get("id"),
            "title": e.get("title"),
            "link": e.get("link"),
            "published": when(e.get("published_parsed")),
            "updated": when(e.get("updated_parsed")),
            # The dates as written, offset included.
            "published_raw": e.get("published"),
            "updated_raw": e.get("updated"),
            "title_language": e.get("title_detail", {}).get("language"),
            "summary": e.get("summary"),
            "summary_type": e.get("summary_detail", {}).get("type"),
            "content": [c.value for c in e.get("content", [])],
            "content_types": [c.type for c in e.get("content", [])],
            "content_languages": [c.language for c in e.get("content", [])],
            "author": e.get("author"),
            "authors": [a.get("name") for a in e.get("authors", [])],
            "contributors": [c.get("name") for c in e.get("contributors", [])],
            "enclosures": [
                {"href": n.get("href"), "type": n.get("type"), "length": n.get("length")}
                for n in e.get("enclosures", [])
            ],
            "tags": [t.get("term") for t in e.get("tags", [])],
            "media_content": [m.get("url") for m in e.get("media_content", [])],
            "media_thumbnail": [m.get("url") for m in e.get("media_thumbnail", [])],
        })
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
