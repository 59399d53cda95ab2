//! Feed pages: scopes, order, limits, tombstones, the time of the newest change.

use tidings::store::Store;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    scope_includes_children_not_prefix_siblings,
    newest_first_with_id_tie_break_and_limit,
    tombstones_inside_the_window,
    updated_is_the_newest_change,
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
