//! Tag feeds: the newest live articles of every section with a tag, the tombstones of those
//! that had it, the time of the tag's newest change, and the tags each event touches.

use tidings::domain::Article;
use tidings::store::Store;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    a_tag_page_holds_the_newest_with_the_tag_from_every_section,
    dropping_a_tag_leaves_its_feed_and_deleting_leaves_a_tombstone,
    events_name_the_tags_they_touch,
    a_batch_indexes_each_articles_last_version,
    a_tag_page_is_bounded_by_its_limit_and_window,
    tags_are_counted_by_their_live_articles,
);

fn tagged(article_id: &str, section_path: &str, published: &str, tags: &[&str]) -> Article {
    let mut a = article(article_id, section_path, published);
    a.tags = tags.iter().map(|t| t.to_string()).collect();
    a
}

async fn tag_ids(store: &Store, tag: &str, limit: u32) -> Vec<String> {
    let page = store
        .feed_page(&scope(&format!("tags/{tag}")), limit)
        .await
        .unwrap();
    ids(&page.entries).into_iter().map(str::to_owned).collect()
}

fn tombstone_ids(page: &tidings::store::FeedPage) -> Vec<&str> {
    page.tombstones.iter().map(|t| t.id.as_str()).collect()
}

async fn a_tag_page_holds_the_newest_with_the_tag_from_every_section(db: Ctx) {
    let store = db.store().await;
    let placed = [
        (
            "t-ldhd",
            "hnyw/ldhd",
            "2024-05-01T08:00:00+08:00",
            &["双拥", "要闻"][..],
        ),
        (
            "t-zwgk",
            "zwgk/tzgg",
            "2024-05-03T08:00:00+08:00",
            &["双拥"][..],
        ),
        (
            "t-zjhn",
            "zjhn",
            "2024-05-02T08:00:00+08:00",
            &["热贡", "双拥"][..],
        ),
        ("t-none", "zjhn", "2024-05-04T08:00:00+08:00", &[][..]),
        ("t-case", "zjhn", "2024-05-05T08:00:00+08:00", &["Rust"][..]),
        (
            "t-space",
            "zwgk",
            "2024-05-06T08:00:00+08:00",
            &["乡村 振兴"][..],
        ),
    ];
    for (article_id, path, published, tags) in placed {
        upsert(
            &store,
            &tagged(article_id, path, published, tags),
            "2024-05-07T09:00:00+08:00",
        )
        .await;
    }
    assert_eq!(
        tag_ids(&store, "双拥", 50).await,
        ["t-zwgk", "t-zjhn", "t-ldhd"]
    );
    assert_eq!(tag_ids(&store, "热贡", 50).await, ["t-zjhn"]);
    assert_eq!(tag_ids(&store, "乡村 振兴", 50).await, ["t-space"]);
    // Exact match: case counts, and a tag nobody carries is an empty feed.
    assert_eq!(tag_ids(&store, "Rust", 50).await, ["t-case"]);
    assert!(tag_ids(&store, "rust", 50).await.is_empty());
    let nobody = store.feed_page(&scope("tags/无人"), 50).await.unwrap();
    assert!(nobody.entries.is_empty() && nobody.tombstones.is_empty());
    assert_eq!(nobody.updated, None);
    // The page carries the whole articles, tags included.
    let page = store.feed_page(&scope("tags/热贡"), 50).await.unwrap();
    assert_eq!(page.entries[0].article.tags, ["热贡", "双拥"]);
    assert_eq!(page.updated, Some(at("2024-05-07T01:00:00Z")));
}

async fn dropping_a_tag_leaves_its_feed_and_deleting_leaves_a_tombstone(db: Ctx) {
    let store = db.store().await;
    let published = "2024-05-01T08:00:00+08:00";
    upsert(
        &store,
        &tagged("d-1", "hnyw", published, &["双拥", "要闻"]),
        "2024-05-02T09:00:00+08:00",
    )
    .await;
    upsert(
        &store,
        &tagged("d-2", "zwgk", published, &["双拥"]),
        "2024-05-02T09:00:00+08:00",
    )
    .await;
    // d-1 drops 双拥: gone from that feed, whose time moves; still in 要闻.
    upsert(
        &store,
        &tagged("d-1", "hnyw", published, &["要闻"]),
        "2024-05-02T10:00:00+08:00",
    )
    .await;
    let page = store.feed_page(&scope("tags/双拥"), 50).await.unwrap();
    assert_eq!(ids(&page.entries), ["d-2"]);
    assert!(page.tombstones.is_empty(), "a live article is no tombstone");
    assert_eq!(page.updated, Some(at("2024-05-02T02:00:00Z")));
    assert_eq!(tag_ids(&store, "要闻", 50).await, ["d-1"]);

    // d-2 is deleted: a tombstone of its tags' feeds, a change of their time.
    store
        .delete_article(&id("d-2"), at("2024-05-02T03:00:00Z"))
        .await
        .unwrap();
    let page = store.feed_page(&scope("tags/双拥"), 50).await.unwrap();
    assert!(page.entries.is_empty());
    assert_eq!(tombstone_ids(&page), ["d-2"]);
    assert_eq!(page.tombstones[0].deleted_at, at("2024-05-02T03:00:00Z"));
    assert_eq!(page.updated, Some(at("2024-05-02T03:00:00Z")));
    // Other tags' feeds know nothing of it.
    let other = store.feed_page(&scope("tags/要闻"), 50).await.unwrap();
    assert!(other.tombstones.is_empty());

    // Published again with other tags: back where it is tagged, and its old tombstone goes.
    upsert(
        &store,
        &tagged("d-2", "zwgk", published, &["热贡"]),
        "2024-05-02T12:00:00+08:00",
    )
    .await;
    let page = store.feed_page(&scope("tags/双拥"), 50).await.unwrap();
    assert!(page.entries.is_empty() && page.tombstones.is_empty());
    assert_eq!(page.updated, Some(at("2024-05-02T04:00:00Z")));
    assert_eq!(tag_ids(&store, "热贡", 50).await, ["d-2"]);
}

async fn events_name_the_tags_they_touch(db: Ctx) {
    let store = db.store().await;
    let published = "2024-05-01T08:00:00+08:00";
    upsert(
        &store,
        &tagged("e-1", "hnyw", published, &["甲", "乙"]),
        "2024-05-02T09:00:00+08:00",
    )
    .await;
    upsert(
        &store,
        &tagged("e-1", "zwgk", published, &["乙", "丙"]),
        "2024-05-02T10:00:00+08:00",
    )
    .await;
    upsert(
        &store,
        &tagged("e-2", "zjhn", published, &[]),
        "2024-05-02T10:00:00+08:00",
    )
    .await;
    store
        .delete_article(&id("e-1"), at("2024-05-02T03:00:00Z"))
        .await
        .unwrap();
    let expected: [&[&str]; 4] = [&["甲", "乙"], &["乙", "丙", "甲"], &[], &["乙", "丙"]];
    let events = store.events_after(0, 10).await.unwrap();
    let tags: Vec<&[String]> = events.iter().map(|e| &e.tags[..]).collect();
    assert_eq!(tags, expected);
    let changes = store.section_changes_after(0, 10).await.unwrap();
    let tags: Vec<&[String]> = changes.iter().map(|c| &c.tags[..]).collect();
    assert_eq!(tags, expected);
    assert_eq!(changes[1].moved_from, Some(section("hnyw")));
}

/// An article sent twice in one batch is indexed as its last version; an unchanged resend
/// changes nothing.
async fn a_batch_indexes_each_articles_last_version(db: Ctx) {
    let store = db.store().await;
    let published = "2024-05-01T08:00:00+08:00";
    upsert_all(
        &store,
        &[
            tagged("b-1", "hnyw", published, &["甲"]),
            tagged("b-2", "zwgk", published, &["甲", "乙"]),
            tagged("b-1", "hnyw", published, &["乙"]),
        ],
        "2024-05-02T09:00:00+08:00",
    )
    .await;
    assert_eq!(tag_ids(&store, "甲", 50).await, ["b-2"]);
    assert_eq!(tag_ids(&store, "乙", 50).await, ["b-2", "b-1"]);
    let before = store.feed_page(&scope("tags/甲"), 50).await.unwrap();
    assert_eq!(before.updated, Some(at("2024-05-02T01:00:00Z")));

    let again = upsert(
        &store,
        &tagged("b-2", "zwgk", published, &["甲", "乙"]),
        "2024-05-03T09:00:00+08:00",
    )
    .await;
    assert_eq!(again.outcome, tidings::store::UpsertOutcome::Unchanged);
    let after = store.feed_page(&scope("tags/甲"), 50).await.unwrap();
    assert_eq!(after.updated, before.updated);
}

/// The limit and the tombstone window work as for sections: newest publication first, the
/// id breaking ties, and only the tombstones published since the oldest entry shown when the
/// page is full.
async fn a_tag_page_is_bounded_by_its_limit_and_window(db: Ctx) {
    let store = db.store().await;
    let days = [
        ("w-1", "2024-05-01T08:00:00+08:00"),
        ("w-2", "2024-05-02T08:00:00+08:00"),
        ("w-3", "2024-05-03T08:00:00+08:00"),
        ("w-4", "2024-05-04T08:00:00+08:00"),
        ("w-5", "2024-05-05T08:00:00+08:00"),
        ("w-6", "2024-05-05T08:00:00+08:00"),
    ];
    let sections = ["hnyw", "zwgk/tzgg", "zjhn"];
    for (n, (article_id, when)) in days.into_iter().enumerate() {
        upsert(
            &store,
            &tagged(article_id, sections[n % 3], when, &["双拥"]),
            "2024-05-06T09:00:00+08:00",
        )
        .await;
    }
    store
        .delete_article(&id("w-4"), at("2024-05-07T00:00:00Z"))
        .await
        .unwrap();
    store
        .delete_article(&id("w-1"), at("2024-05-07T01:00:00Z"))
        .await
        .unwrap();
    let page = store.feed_page(&scope("tags/双拥"), 3).await.unwrap();
    assert_eq!(ids(&page.entries), ["w-6", "w-5", "w-3"]);
    assert_eq!(tombstone_ids(&page), ["w-4"], "only inside the window");
    let page = store.feed_page(&scope("tags/双拥"), 10).await.unwrap();
    assert_eq!(ids(&page.entries), ["w-6", "w-5", "w-3", "w-2"]);
    assert_eq!(
        tombstone_ids(&page),
        ["w-1", "w-4"],
        "latest deletion first"
    );
}

async fn tags_are_counted_by_their_live_articles(db: Ctx) {
    let store = db.store().await;
    assert!(store.tag_counts(10).await.unwrap().is_empty());
    let published = "2024-05-01T08:00:00+08:00";
    for (article_id, tags) in [
        ("c-1", &["双拥", "要闻"][..]),
        ("c-2", &["双拥"][..]),
        ("c-3", &["双拥", "热贡"][..]),
        ("c-4", &["要闻"][..]),
        ("c-5", &["Rust"][..]),
    ] {
        upsert(
            &store,
            &tagged(article_id, "hnyw", published, tags),
            "2024-05-02T09:00:00+08:00",
        )
        .await;
    }
    let counts = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    };
    // The most carried first, then by name (bytes: Latin before CJK).
    assert_eq!(
        store.tag_counts(10).await.unwrap(),
        counts(&[("双拥", 3), ("要闻", 2), ("Rust", 1), ("热贡", 1)])
    );
    assert_eq!(
        store.tag_counts(2).await.unwrap(),
        counts(&[("双拥", 3), ("要闻", 2)])
    );
    // A deleted article, and a tag dropped, count no more.
    store
        .delete_article(&id("c-3"), at("2024-05-02T03:00:00Z"))
        .await
        .unwrap();
    upsert(
        &store,
        &tagged("c-4", "hnyw", published, &[]),
        "2024-05-02T10:00:00+08:00",
    )
    .await;
    assert_eq!(
        store.tag_counts(10).await.unwrap(),
        counts(&[("双拥", 2), ("Rust", 1), ("要闻", 1)])
    );
}
