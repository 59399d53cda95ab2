//! Feed pages: scopes, order, limits, tombstones, the time of the newest change.

use tidings::store::Store;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    scope_includes_children_not_prefix_siblings,
    newest_first_with_id_tie_break_and_limit,
    tombstones_inside_the_window,
    updated_is_the_newest_change,
    a_parent_merges_its_sections_newest_first,
    moves_change_both_sections_and_counts,
    pages_behind_a_feed_reach_every_article_once,
);

async fn page_ids(store: &Store, scope_name: &str, limit: u32) -> Vec<String> {
    let page = store.feed_page(&scope(scope_name), limit).await.unwrap();
    ids(&page.entries).into_iter().map(str::to_owned).collect()
}

async fn scope_includes_children_not_prefix_siblings(db: Ctx) {
    let store = db.store().await;
    let placed = [
        ("s-parent", "hnyw"),
        ("s-child", "hnyw/ldhd"),
        ("s-grandchild", "hnyw/ldhd/2024"),
        ("s-sibling", "hnyw-x"),
        ("s-sibling-child", "hnyw-x/ldhd"),
        ("s-under", "hnyw_y"),
        ("s-other", "zwgk/tzgg"),
    ];
    for (n, (article_id, path)) in placed.iter().enumerate() {
        // Distinct publication times, newest last.
        let published = format!("2024-05-01T08:0{n}:00+08:00");
        upsert(
            &store,
            &article(article_id, path, &published),
            "2024-05-02T09:00:00+08:00",
        )
        .await;
    }
    assert_eq!(
        page_ids(&store, "hnyw", 50).await,
        ["s-grandchild", "s-child", "s-parent"]
    );
    assert_eq!(
        page_ids(&store, "hnyw/ldhd", 50).await,
        ["s-grandchild", "s-child"]
    );
    assert_eq!(
        page_ids(&store, "hnyw-x", 50).await,
        ["s-sibling-child", "s-sibling"]
    );
    assert_eq!(page_ids(&store, "zwgk", 50).await, ["s-other"]);
    assert!(page_ids(&store, "zjhn", 50).await.is_empty());
    assert_eq!(page_ids(&store, "all", 50).await.len(), placed.len());
}

async fn newest_first_with_id_tie_break_and_limit(db: Ctx) {
    let store = db.store().await;
    let published = [
        ("o-a", "2024-05-01T08:00:00+08:00"),
        ("o-b", "2024-05-03T08:00:00+08:00"),
        ("o-c", "2024-05-02T08:00:00+08:00"),
        // The same instant in another zone: the tie is broken by id, descending.
        ("o-d", "2024-05-02T01:00:00+01:00"),
        ("o-C", "2024-05-02T00:00:00Z"),
    ];
    for (article_id, when) in published {
        upsert(
            &store,
            &article(article_id, "zwgk/tzgg", when),
            "2024-05-04T09:00:00+08:00",
        )
        .await;
    }
    // Byte order: 'C' < 'c' < 'd'.
    assert_eq!(
        page_ids(&store, "zwgk", 10).await,
        ["o-b", "o-d", "o-c", "o-C", "o-a"]
    );
    assert_eq!(page_ids(&store, "zwgk", 2).await, ["o-b", "o-d"]);
    assert_eq!(page_ids(&store, "all", 1).await, ["o-b"]);
}

async fn tombstones_inside_the_window(db: Ctx) {
    let store = db.store().await;
    let days = [
        ("w-1", "2024-05-01T08:00:00+08:00"),
        ("w-2", "2024-05-02T08:00:00+08:00"),
        ("w-3", "2024-05-03T08:00:00+08:00"),
        ("w-4", "2024-05-04T08:00:00+08:00"),
        ("w-5", "2024-05-05T08:00:00+08:00"),
    ];
    for (article_id, when) in days {
        upsert(
            &store,
            &article(article_id, "hnyw/ldhd", when),
            "2024-05-06T09:00:00+08:00",
        )
        .await;
    }
    // w-1 is older than a full window of two can show; w-4 is inside it.
    store
        .delete_article(&id("w-4"), at("2024-05-07T00:00:00Z"))
        .await
        .unwrap();
    store
        .delete_article(&id("w-1"), at("2024-05-07T01:00:00Z"))
        .await
        .unwrap();

    let page = store.feed_page(&scope("hnyw"), 2).await.unwrap();
    assert_eq!(ids(&page.entries), ["w-5", "w-3"]);
    let dead: Vec<&str> = page.tombstones.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(dead, ["w-4"], "only tombstones published within the window");
    assert_eq!(page.tombstones[0].deleted_at, at("2024-05-07T00:00:00Z"));
    assert_eq!(page.tombstones[0].section, section("hnyw/ldhd"));
    assert_eq!(
        page.tombstones[0].url.as_str(),
        article("w-4", "hnyw", "2024-05-04T08:00:00+08:00")
            .url
            .as_str()
    );

    // A feed that is not full shows every tombstone of its scope, latest deletion first.
    let page = store.feed_page(&scope("hnyw"), 10).await.unwrap();
    assert_eq!(ids(&page.entries), ["w-5", "w-3", "w-2"]);
    let dead: Vec<&str> = page.tombstones.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(dead, ["w-1", "w-4"]);

    // Tombstones of other scopes stay out.
    let page = store.feed_page(&scope("zwgk"), 10).await.unwrap();
    assert!(page.entries.is_empty() && page.tombstones.is_empty());
}

async fn updated_is_the_newest_change(db: Ctx) {
    let store = db.store().await;
    assert_eq!(
        store.feed_page(&scope("all"), 10).await.unwrap().updated,
        None
    );
    upsert(
        &store,
        &article("u-1", "hnyw", "2024-05-01T08:00:00+08:00"),
        "2024-05-01T09:00:00+08:00",
    )
    .await;
    upsert(
        &store,
        &article("u-2", "zwgk", "2024-05-01T08:00:00+08:00"),
        "2024-05-01T10:00:00+08:00",
    )
    .await;
    let hnyw = store.feed_page(&scope("hnyw"), 10).await.unwrap();
    assert_eq!(hnyw.updated, Some(at("2024-05-01T01:00:00Z")));
    let all = store.feed_page(&scope("all"), 10).await.unwrap();
    assert_eq!(all.updated, Some(at("2024-05-01T02:00:00Z")));

    // A deletion is a change of its scope too.
    store
        .delete_article(&id("u-1"), at("2024-05-01T03:00:00Z"))
        .await
        .unwrap();
    let hnyw = store.feed_page(&scope("hnyw"), 10).await.unwrap();
    assert!(hnyw.entries.is_empty());
    assert_eq!(hnyw.updated, Some(at("2024-05-01T03:00:00Z")));
    assert_eq!(
        store.feed_page(&scope("zjhn"), 10).await.unwrap().updated,
        None
    );
}

/// A parent's page is its sections' own newest, merged: at any limit, exactly the newest of
/// the whole subtree, whichever section they come from, with tombstones in their window.
async fn a_parent_merges_its_sections_newest_first(db: Ctx) {
    let store = db.store().await;
    let sections = ["hnyw", "hnyw/ldhd", "hnyw/bmdt", "hnyw/xxdt", "zwgk"];
    let mut all = Vec::new();
    for n in 0..60 {
        let path = sections[(n * 7) % sections.len()];
        // Publication times out of order with ids, a few equal (the id breaks the tie).
        let published = format!("2024-05-{:02}T08:00:00+08:00", 1 + (n * 13) % 28);
        let a = article(&format!("m-{n:02}"), path, &published);
        all.push((path, published, a.id.to_string()));
        upsert(&store, &a, "2024-06-01T09:00:00+08:00").await;
    }
    for n in [3, 17, 44] {
        store
            .delete_article(&id(&format!("m-{n:02}")), at("2024-06-02T00:00:00Z"))
            .await
            .unwrap();
        all.retain(|(_, _, i)| *i != format!("m-{n:02}"));
    }
    let mut in_hnyw: Vec<(String, String)> = all
        .iter()
        .filter(|(path, _, _)| path.starts_with("hnyw"))
        .map(|(_, published, i)| (at(published).to_rfc3339(), i.clone()))
        .collect();
    in_hnyw.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = in_hnyw.into_iter().map(|(_, i)| i).collect();
    for limit in [1, 5, 12, 30, 100] {
        let want: Vec<String> = expected.iter().take(limit).cloned().collect();
        assert_eq!(
            page_ids(&store, "hnyw", limit as u32).await,
            want,
            "limit {limit}"
        );
    }
    // With room for every entry, every tombstone of the subtree is in the window.
    let page = store.feed_page(&scope("hnyw"), 100).await.unwrap();
    let mut gone: Vec<&str> = page.tombstones.iter().map(|t| t.id.as_str()).collect();
    gone.sort();
    let expected_gone: Vec<&str> = ["m-03", "m-17", "m-44"]
        .into_iter()
        .filter(|i| {
            let n: usize = i[2..].parse().unwrap();
            sections[(n * 7) % sections.len()].starts_with("hnyw")
        })
        .collect();
    assert_eq!(gone, expected_gone);
}

/// An article moving out of a section changes that section's feed too (its `updated` time),
/// and the live counts follow moves, deletions and re-publications.
async fn moves_change_both_sections_and_counts(db: Ctx) {
    let store = db.store().await;
    upsert(
        &store,
        &article("v-1", "zwgk", "2024-05-01T08:00:00+08:00"),
        "2024-05-01T09:00:00+08:00",
    )
    .await;
    upsert(
        &store,
        &article("v-2", "zwgk", "2024-05-01T08:00:00+08:00"),
        "2024-05-01T09:00:00+08:00",
    )
    .await;
    upsert(
        &store,
        &article("v-2", "zjhn", "2024-05-01T08:00:00+08:00"),
        "2024-05-01T10:00:00+08:00",
    )
    .await;
    let zwgk = store.feed_page(&scope("zwgk"), 10).await.unwrap();
    assert_eq!(ids(&zwgk.entries), ["v-1"]);
    assert_eq!(zwgk.updated, Some(at("2024-05-01T02:00:00Z")), "moved out");
    let counts = |store: Store| async move {
        let mut counts = store.article_counts().await.unwrap();
        counts.sort();
        counts
    };
    assert_eq!(
        counts(store.clone()).await,
        [("zjhn".to_owned(), 1), ("zwgk".to_owned(), 1)]
    );

    // Deleted, then published again elsewhere: the tombstone leaves nothing live behind.
    store
        .delete_article(&id("v-1"), at("2024-05-01T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!(counts(store.clone()).await, [("zjhn".to_owned(), 1)]);
    upsert(
        &store,
        &article("v-1", "zjhn", "2024-05-01T08:00:00+08:00"),
        "2024-05-01T12:00:00+08:00",
    )
    .await;
    assert_eq!(counts(store.clone()).await, [("zjhn".to_owned(), 2)]);
    let zwgk = store.feed_page(&scope("zwgk"), 10).await.unwrap();
    assert!(zwgk.entries.is_empty() && zwgk.tombstones.is_empty());
    assert_eq!(zwgk.updated, Some(at("2024-05-01T04:00:00Z")));

    // What a reader of the log learns without the payloads.
    let changes = store.section_changes_after(0, 100).await.unwrap();
    let seen: Vec<(&str, Option<&str>)> = changes
        .iter()
        .map(|c| {
            (
                c.section.as_str(),
                c.moved_from.as_ref().map(|s| s.as_str()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("zwgk", None),
            ("zwgk", None),
            ("zjhn", Some("zwgk")),
            ("zwgk", None),
            ("zjhn", Some("zwgk")),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
}

/// RFC 5005 paging: from a feed page, the pages behind it (each after the oldest entry of the
/// one before) hold every live article of the scope exactly once, in the feeds' order, across
/// sections and publication-time ties, and nothing deleted or outside the scope.
async fn pages_behind_a_feed_reach_every_article_once(db: Ctx) {
    let store = db.store().await;
    let placed = [
        ("p-1", "hnyw", "2024-05-01T08:00:00+08:00"),
        ("p-2", "hnyw/ldhd", "2024-05-01T08:00:00+08:00"),
        ("p-3", "hnyw/bmdt", "2024-05-01T08:00:00+08:00"),
        ("p-4", "hnyw/ldhd", "2024-05-02T08:00:00+08:00"),
        ("p-5", "zwgk", "2024-05-02T09:00:00+08:00"),
        ("p-6", "hnyw", "2024-05-03T08:00:00.000001+08:00"),
        ("p-7", "hnyw/bmdt", "2024-05-03T08:00:00+08:00"),
        ("p-8", "hnyw/ldhd", "2024-05-04T08:00:00+08:00"),
    ];
    for (article_id, path, published) in placed {
        upsert(
            &store,
            &article(article_id, path, published),
            "2024-05-05T09:00:00+08:00",
        )
        .await;
    }
    store
        .delete_article(&id("p-4"), at("2024-05-06T00:00:00Z"))
        .await
        .unwrap();

    for (scope_name, expected) in [
        ("hnyw", vec!["p-8", "p-6", "p-7", "p-3", "p-2", "p-1"]),
        ("hnyw/ldhd", vec!["p-8", "p-2"]),
        ("all", vec!["p-8", "p-6", "p-7", "p-5", "p-3", "p-2", "p-1"]),
    ] {
        let the_scope = scope(scope_name);
        let first = store.feed_page(&the_scope, 2).await.unwrap().entries;
        let mut walked: Vec<String> = ids(&first).iter().map(|s| (*s).to_owned()).collect();
        let mut oldest = first.last().cloned();
        while let Some(last) = oldest {
            let cursor = tidings::domain::FeedCursor::after(&last);
            let page = store.articles_before(&the_scope, &cursor, 2).await.unwrap();
            assert!(page.len() <= 2);
            walked.extend(ids(&page).iter().map(|s| (*s).to_owned()));
            // From the cursor on, the keys run oldest first, the cursor's article first.
            let front = store
                .article_keys_from(&the_scope, &cursor, 3)
                .await
                .unwrap();
            let front_ids: Vec<&str> = front.iter().map(|k| k.id.as_str()).collect();
            let at = walked
                .iter()
                .position(|w| *w == cursor.id.as_str())
                .unwrap();
            let expected_front: Vec<&str> = walked[..=at]
                .iter()
                .rev()
                .take(3)
                .map(String::as_str)
                .collect();
            assert_eq!(front_ids, expected_front, "{scope_name}");
            oldest = page.last().cloned();
        }
        assert_eq!(walked, expected, "{scope_name}");
    }
}
