use serde_json::{Value, json};

use crate::helpers::{READ_ONLY_TOKEN, TOKEN, article, seed_article, spawn_app, spawn_app_with};

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "a {status} must be problem+json"
    );
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["type"].is_string() && body["detail"].is_string());
    body
}

#[tokio::test]
async fn publishing_needs_a_token_with_the_publish_scope() {
    let app = spawn_app().await;
    let doc = article("a-1", "hnyw/ldhd", "标题");
    let none = app
        .client
        .post(app.url("/api/v1/articles"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    let body = problem(none, 401).await;
    assert!(body["detail"].as_str().unwrap().contains("token"));
    let wrong = app
        .client
        .post(app.url("/api/v1/articles"))
        .bearer_auth("not-a-token")
        .json(&doc)
        .send()
        .await
        .unwrap();
    problem(wrong, 401).await;
    let reader = app
        .client
        .post(app.url("/api/v1/articles"))
        .bearer_auth(READ_ONLY_TOKEN)
        .json(&doc)
        .send()
        .await
        .unwrap();
    problem(reader, 403).await;
    assert!(
        app.events().await.is_empty(),
        "nothing may be stored without the scope"
    );
}

#[tokio::test]
async fn create_update_unchanged_and_delete_each_write_one_event() {
    let app = spawn_app().await;
    let mut doc = article("a-1", "hnyw/ldhd", "第一版");
    let created = app.post_article(&doc).await;
    assert_eq!(created.status(), 201);
    assert!(
        created.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/api/v1/articles/a-1")
    );
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["status"], "created");
    assert_eq!(created["article"]["version"], 1);
    assert!(created["article"]["updated"].is_null());

    let again = app.post_article(&doc).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["article"]["version"], 1);

    doc["title"] = json!("第二版");
    let updated = app.publish(&doc).await;
    assert_eq!(updated["status"], "updated");
    assert_eq!(updated["article"]["version"], 2);
    assert!(
        updated["article"]["updated"].is_string(),
        "an update sets `updated`"
    );

    let stored: Value = app
        .client
        .get(app.url("/api/v1/articles/a-1"))
        .bearer_auth(READ_ONLY_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["title"], "第二版");
    assert_eq!(stored["version"], 2);

    let deleted = app
        .client
        .delete(app.url("/api/v1/articles/a-1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(deleted["version"], 3);
    let twice: Value = app
        .client
        .delete(app.url("/api/v1/articles/a-1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(twice["status"], "unchanged");

    let gone = app.get_authorized("/api/v1/articles/a-1").await;
    problem(gone, 410).await;
    let missing = app.get_authorized("/api/v1/articles/nope").await;
    problem(missing, 404).await;

    let kinds: Vec<(String, i64)> = app
        .events()
        .await
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("article.published".to_owned(), 1),
            ("article.updated".to_owned(), 2),
            ("article.deleted".to_owned(), 3)
        ]
    );
}

#[tokio::test]
async fn resending_an_unchanged_article_concurrently_stores_one_version_and_one_event() {
    let app = spawn_app().await;
    let doc = seed_article();
    let (a, b) = tokio::join!(app.post_article(&doc), app.post_article(&doc));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    let mut outcomes = [a["status"].as_str().unwrap(), b["status"].as_str().unwrap()];
    outcomes.sort();
    assert_eq!(outcomes, ["created", "unchanged"]);
    assert_eq!(a["article"]["version"], 1);
    assert_eq!(b["article"]["version"], 1);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn put_takes_the_id_from_the_path_and_refuses_a_different_one() {
    let app = spawn_app().await;
    let mut doc = article("x", "zwgk/tzgg", "通知");
    doc.as_object_mut().unwrap().remove("id");
    let put = app
        .client
        .put(app.url("/api/v1/articles/put-1"))
        .bearer_auth(TOKEN)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    doc["id"] = json!("other");
    let clash = app
        .client
        .put(app.url("/api/v1/articles/put-1"))
        .bearer_auth(TOKEN)
        .json(&doc)
        .send()
        .await
        .unwrap();
    let body = problem(clash, 422).await;
    assert_eq!(body["errors"][0]["field"], "id");
}

#[tokio::test]
async fn a_breadcrumb_names_the_section_and_a_leading_home_is_dropped() {
    let app = spawn_app().await;
    let body = app.publish(&seed_article()).await;
    assert_eq!(body["article"]["section"], "hnyw/ldhd");
    let mut doc = article("b-1", "x", "标题");
    doc.as_object_mut().unwrap().remove("section");
    doc["section_titles"] = json!(["政务公开", "通知公告"]);
    assert_eq!(app.publish(&doc).await["article"]["section"], "zwgk/tzgg");
}

#[tokio::test]
async fn an_unknown_section_is_refused_with_suggestions() {
    let app = spawn_app().await;
    let body = problem(
        app.post_article(&article("u-1", "hnyw/ldhdd", "标题"))
            .await,
        422,
    )
    .await;
    let error = &body["errors"][0];
    assert_eq!(error["field"], "section");
    assert!(error["reason"].as_str().unwrap().contains("hnyw/ldhdd"));
    let suggestions: Vec<&str> = error["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(suggestions.first(), Some(&"hnyw/ldhd"), "{suggestions:?}");

    let mut doc = article("u-2", "x", "标题");
    doc.as_object_mut().unwrap().remove("section");
    doc["section_titles"] = json!(["首页", "黄南要闻", "不存在"]);
    let body = problem(app.post_article(&doc).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "section_titles");
}

#[tokio::test]
async fn every_invalid_field_is_named_at_once() {
    let app = spawn_app().await;
    let doc = json!({
        "id": "has space", "section": "hnyw", "title": 5, "url": "/relative",
        "published": "yesterday", "tags": "not-a-list", "images": [{"caption": "x"}]
    });
    let body = problem(app.post_article(&doc).await, 422).await;
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["id", "images[0].url", "published", "tags", "title", "url"]
    );
    let title = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "title")
        .unwrap();
    assert_eq!(title["reason"], "must be a string, not a number");
}

#[tokio::test]
async fn malformed_bodies_get_precise_problems() {
    let app = spawn_app_with(|c| c.http.max_body_bytes = 64 * 1024).await;
    let send = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/articles"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let body = problem(
        send(b"{\"id\": ".to_vec(), "application/json")
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("line 1"),
        "{body}"
    );
    problem(send(b"{}".to_vec(), "text/plain").await.unwrap(), 415).await;
    problem(
        send(b"[1, 2]".to_vec(), "application/json").await.unwrap(),
        422,
    )
    .await;
    let huge = serde_json::to_vec(&json!({"title": "x".repeat(100 * 1024)})).unwrap();
    problem(send(huge, "application/json").await.unwrap(), 413).await;
    let wrong_method = app
        .client
        .patch(app.url("/api/v1/articles"))
        .send()
        .await
        .unwrap();
    problem(wrong_method, 405).await;
    problem(app.get("/no/such/page").await, 404).await;
    assert!(app.events().await.is_empty());
}

#[tokio::test]
async fn a_batch_answers_one_result_per_item_with_partial_success() {
    let app = spawn_app().await;
    let good = article("batch-1", "hnyw/bmdt", "部门动态一");
    let bad = article("batch-2", "nowhere", "坏的");
    let response = app
        .post_json("/api/v1/articles/batch", &json!([good, bad, good]))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["created", "rejected", "unchanged"]);
    assert_eq!(body["results"][1]["errors"][0]["field"], "section");
    assert_eq!(
        (body["created"].as_u64(), body["rejected"].as_u64()),
        (Some(1), Some(1))
    );

    let ndjson = format!(
        "{}\n\n{}\nnot json\n",
        article("batch-3", "zwgk", "三"),
        article("batch-4", "zwgk", "四")
    );
    let response = app
        .client
        .post(app.url("/api/v1/articles/batch"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    let lines: Vec<(u64, &str)> = results
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(1, "created"), (3, "created"), (4, "rejected")]);
}

#[tokio::test]
async fn articles_and_events_survive_a_restart() {
    let app = spawn_app().await;
    app.publish(&seed_article()).await;
    let before = app
        .get_text("/feeds/all.atom")
        .await
        .replace(&app.address, "");
    let (dir, config) = app.stop().await;
    let app = crate::helpers::spawn_in(dir, config).await;
    let again = app.post_article(&seed_article()).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "unchanged");
    assert_eq!(app.events().await.len(), 1);
    // The same data renders the same bytes (but for the new port in the self links).
    let after = app
        .get_text("/feeds/all.atom")
        .await
        .replace(&app.address, "");
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_path_that_is_not_utf8_gets_a_problem_not_a_crash() {
    let app = spawn_app().await;
    let response = app.get_authorized("/api/v1/articles/%FF%FE").await;
    let body = problem(response, 400).await;
    assert!(!body["detail"].as_str().unwrap().is_empty());
}
