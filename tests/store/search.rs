//! Searching articles: where the text is looked for, case, literal characters, deletions,
//! order, limits and reading on.

use tidings::domain::{Article, SearchQuery};
use tidings::store::Store;

use crate::fixtures::*;
use crate::harness::Ctx;

conformance!(
    finds_the_text_in_title_summary_or_body_newest_first,
    ascii_letters_match_in_either_case_other_characters_as_written,
    wildcards_and_markup_characters_are_literal,
    deleted_articles_are_not_found,
    a_search_stops_at_its_limit_and_reads_on_after_a_batch,
);

const NOW: &str = "2024-06-01T09:00:00+08:00";

async fn search(store: &Store, text: &str) -> Vec<String> {
    let query = SearchQuery::parse(text).expect("a valid query");
    let found = store.search_articles(&query, None, 50).await.unwrap();
    ids(&found).into_iter().map(str::to_owned).collect()
}

/// An article published on day `day` of May 2024, with `change` applied.
fn on_day(article_id: &str, day: u32, change: impl FnOnce(&mut Article)) -> Article {
    let mut article = article(
        article_id,
        "hnyw/ldhd",
        &format!("2024-05-{day:02}T08:00:00+08:00"),
    );
    change(&mut article);
    article
}

async fn finds_the_text_in_title_summary_or_body_newest_first(db: Ctx) {
    let store = db.store().await;
    let articles = [
        on_day("in-title", 1, |a| a.title = "全州双拥工作会议".into()),
        on_day("in-summary", 2, |a| {
            a.summary = Some("会议部署双拥工作".into())
        }),
        on_day("in-body", 3, |a| {
            a.content_html = "<p>5月31日，黄南州召开双拥工作会议。</p>".into()
        }),
        on_day("elsewhere", 4, |a| {
            a.title = "乡村振兴".into();
            a.tags = vec!["双拥".into()];
            a.source = Some("双拥办".into());
        }),
    ];
    upsert_all(&store, &articles, NOW).await;
    assert_eq!(
        search(&store, "双拥").await,
        ["in-body", "in-summary", "in-title"]
    );
    assert_eq!(search(&store, "乡村振兴").await, ["elsewhere"]);
    assert!(search(&store, "不存在的词").await.is_empty());
}

async fn ascii_letters_match_in_either_case_other_characters_as_written(db: Ctx) {
    let store = db.store().await;
    let articles = [
        on_day("english", 1, |a| {
            a.title = "Huangnan Hosts the Regong Arts Festival".into()
        }),
        on_day("accented", 2, |a| a.title = "Émile visits Tongren".into()),
        on_day("wide", 3, |a| a.title = "ＡＢＣ全角字母".into()),
    ];
    upsert_all(&store, &articles, NOW).await;
    assert_eq!(search(&store, "regong arts").await, ["english"]);
    assert_eq!(search(&store, "HUANGNAN HOSTS").await, ["english"]);
    assert_eq!(search(&store, "tongren").await, ["accented"]);
    assert_eq!(search(&store, "Émile").await, ["accented"]);
    assert!(search(&store, "émile").await.is_empty(), "only ASCII folds");
    assert_eq!(search(&store, "ＡＢＣ").await, ["wide"]);
    assert!(
        search(&store, "ａｂｃ").await.is_empty(),
        "only ASCII folds"
    );
}

async fn wildcards_and_markup_characters_are_literal(db: Ctx) {
    let store = db.store().await;
    let articles = [
        on_day("percent", 1, |a| a.title = "完成率 100%".into()),
        on_day("underscore", 2, |a| a.title = "file_name".into()),
        on_day("backslash", 3, |a| a.title = r"C:\Windows".into()),
        on_day("ampersand", 4, |a| {
            a.content_html = "<p>Research &amp; Development &lt;2024&gt;</p>".into()
        }),
    ];
    upsert_all(&store, &articles, NOW).await;
    assert_eq!(search(&store, "%").await, ["percent"]);
    assert_eq!(search(&store, "100%").await, ["percent"]);
    assert_eq!(search(&store, "_").await, ["underscore"]);
    assert_eq!(search(&store, r"\").await, ["backslash"]);
    assert_eq!(search(&store, "'").await, Vec::<String>::new());
    // A body is HTML: its text's `&` and `<` are found as the reader typed them, and the
    // markup's own `<` is not text.
    assert_eq!(
        search(&store, "research & development").await,
        ["ampersand"]
    );
    assert_eq!(search(&store, "<2024>").await, ["ampersand"]);
    assert!(search(&store, "<p>").await.is_empty());
}

async fn deleted_articles_are_not_found(db: Ctx) {
    let store = db.store().await;
    let articles = [
        on_day("kept", 1, |a| a.title = "热贡艺术".into()),
        on_day("gone", 2, |a| a.title = "热贡文化".into()),
    ];
    upsert_all(&store, &articles, NOW).await;
    assert_eq!(search(&store, "热贡").await, ["gone", "kept"]);
    store.delete_article(&id("gone"), at(NOW)).await.unwrap();
    assert_eq!(search(&store, "热贡").await, ["kept"]);
}

async fn a_search_stops_at_its_limit_and_reads_on_after_a_batch(db: Ctx) {
    let store = db.store().await;
    let mut articles: Vec<Article> = (1..=4)
        .map(|day| on_day(&format!("day-{day}"), day, |a| a.title = "旅游".into()))
        .collect();
    // The same instant as day-3 in another zone: the greater id comes first.
    articles.push(on_day("day-3-utc", 3, |a| {
        a.title = "旅游".into();
        a.published = local("2024-05-03T00:00:00Z");
    }));
    upsert_all(&store, &articles, NOW).await;
    let query = SearchQuery::parse("旅游").unwrap();
    let mut batches = Vec::new();
    let mut after = None;
    loop {
        let batch = store
            .search_articles(&query, after.as_ref(), 2)
            .await
            .unwrap();
        let Some(last) = batch.last().cloned() else {
            break;
        };
        batches.push(ids(&batch).join(" "));
        after = Some(last);
    }
    assert_eq!(batches, ["day-4 day-3-utc", "day-3 day-2", "day-1"]);
}
