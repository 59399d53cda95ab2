//! The `tidings` binary: ingest from files and standard input, check the catalogue.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::helpers::{
    KillOnDrop, article, eventually, free_port, repo_path, seed_article, spawn_app_with,
};

/// Runs the binary in `dir` with its own database and the shipped catalogue.
fn tidings(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidings"));
    command.env("TIDINGS_CATALOG_DIR", repo_path("feeds"));
    run(command, dir, args, stdin)
}

fn run(mut command: Command, dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = command
        .args(args)
        .current_dir(dir)
        .env(
            "TIDINGS_DATABASE_URL",
            format!("sqlite://{}", dir.join("cli.db").display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn ingest_reads_files_folders_and_stdin_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let articles = dir.path().join("articles");
    std::fs::create_dir_all(articles.join("nested")).unwrap();
    std::fs::write(articles.join("seed.json"), seed_article().to_string()).unwrap();
    let array = json!([
        article("f-1", "zwgk/tzgg", "通知一"),
        article("f-2", "zwgk/tzgg", "通知二")
    ]);
    std::fs::write(
        articles.join("nested/two.json"),
        serde_json::to_string_pretty(&array).unwrap(),
    )
    .unwrap();
    std::fs::write(articles.join("ignored.txt"), "not an article").unwrap();

    let first = tidings(dir.path(), &["ingest", "articles"], None);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(
        text(&first.stdout).trim(),
        "3 created, 0 updated, 0 unchanged, 0 rejected"
    );

    let again = tidings(dir.path(), &["ingest", "articles"], None);
    assert_eq!(
        text(&again.stdout).trim(),
        "0 created, 0 updated, 3 unchanged, 0 rejected"
    );

    let ndjson = format!(
        "{}\n{}\n",
        article("f-3", "zwgk/tzgg", "通知三"),
        article("f-4", "nowhere", "坏")
    );
    let piped = tidings(dir.path(), &["ingest", "-"], Some(&ndjson));
    assert_eq!(
        piped.status.code(),
        Some(1),
        "a rejection makes the exit non-zero"
    );
    assert_eq!(
        text(&piped.stdout).trim(),
        "1 created, 0 updated, 0 unchanged, 1 rejected"
    );
    let stderr = text(&piped.stderr);
    assert!(
        stderr.contains("-:2: f-4: section: unknown section \"nowhere\""),
        "{stderr}"
    );

    // Nothing in, nothing wrong.
    for input in ["", "\n  \n"] {
        let empty = tidings(dir.path(), &["ingest", "-"], Some(input));
        assert!(empty.status.success(), "{}", text(&empty.stderr));
        assert_eq!(text(&empty.stdout).trim(), "0 documents");
    }
}

#[test]
fn ingest_names_the_file_and_line_of_each_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let array = format!(
        "[\n{},\n{}\n]",
        article("ok-1", "hnyw", "好"),
        json!({"id": "bad-1", "section": "hnyw", "url": "https://x.cn/1", "published": "2024-01-01"})
    );
    std::fs::write(dir.path().join("batch.json"), array).unwrap();
    std::fs::write(
        dir.path().join("lines.ndjson"),
        "{\"id\": \"nl-1\"}\n\n{broken\n",
    )
    .unwrap();
    let out = tidings(dir.path(), &["ingest", "batch.json", "lines.ndjson"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("batch.json:3: bad-1: title: is required"),
        "{stderr}"
    );
    assert!(stderr.contains("lines.ndjson:1: nl-1: "), "{stderr}");
    assert!(
        stderr.contains("lines.ndjson:3: -: line 3 is not valid JSON"),
        "{stderr}"
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "1 created, 0 updated, 0 unchanged, 3 rejected"
    );

    let missing = tidings(dir.path(), &["ingest", "no-such-file.json"], None);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = text(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: cannot read no-such-file.json"),
        "{stderr}"
    );
}

#[test]
fn ingest_streams_large_files_and_rejects_only_their_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 articles, one per line (some ending in CRLF), with blank lines and three bad ones.
    let mut ndjson: Vec<u8> = Vec::new();
    let mut line = 0;
    let mut expected = Vec::new();
    for i in 0..3000 {
        let mut push = |bytes: &[u8]| {
            ndjson.extend_from_slice(bytes);
            line += 1;
            line
        };
        if i == 10 {
            let at = push(b"{broken\n");
            expected.push(format!("many.ndjson:{at}: -: line {at} is not valid JSON"));
        }
        if i == 1234 {
            let at = push(b"{\"id\": \"\xff\xfe\"}\n");
            expected.push(format!("many.ndjson:{at}: -: line {at} is not valid UTF-8"));
        }
        if i == 2500 {
            let bad = article("big-bad", "nowhere", "坏");
            let at = push(format!("{bad}\n").as_bytes());
            expected.push(format!(
                "many.ndjson:{at}: big-bad: section: unknown section \"nowhere\""
            ));
        }
        if i % 700 == 0 {
            push(b"\n");
        }
        let ending = if i % 3 == 0 { "\r\n" } else { "\n" };
        push(format!("{}{ending}", article(&format!("big-{i}"), "zwgk", "批量")).as_bytes());
    }
    std::fs::write(dir.path().join("many.ndjson"), &ndjson).unwrap();

    let out = tidings(dir.path(), &["ingest", "many.ndjson"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "3000 created, 0 updated, 0 unchanged, 3 rejected"
    );
    let stderr = text(&out.stderr);
    for rejection in &expected {
        assert!(
            stderr.contains(&format!("rejected {rejection}")),
            "{rejection}: {stderr}"
        );
    }

    // The same articles again, as an array over several chunks, one changed, one bad item.
    let mut items: Vec<String> = (0..1200)
        .map(|i| article(&format!("big-{i}"), "zwgk", "批量").to_string())
        .collect();
    items[7] = article("big-7", "zwgk", "改过").to_string();
    items[1100] = article("big-1100", "zwgk", "").to_string();
    std::fs::write(
        dir.path().join("array.json"),
        format!("[\n{}\n]\n", items.join(",\n")),
    )
    .unwrap();
    let out = tidings(dir.path(), &["ingest", "array.json"], None);
    assert_eq!(
        text(&out.stdout).trim(),
        "0 created, 1 updated, 1198 unchanged, 1 rejected"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("rejected array.json:1102: big-1100: title: "),
        "{stderr}"
    );
}

#[test]
fn check_names_each_catalogue_problem_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    std::fs::copy(repo_path("feeds/site.toml"), feeds.join("site.toml")).unwrap();
    std::fs::write(
        feeds.join("a.toml"),
        "[[section]]\nslug = \"news\"\ntitle = \"新闻\"\n\n[[section]]\nslug = \"news\"\ntitle = \"又一个\"\n\n[[section]]\nparent = \"ghost\"\nslug = \"x\"\ntitle = \"孤儿\"\n\n[[section]]\nslug = \"en\"\ntitle = \"English\"\nlanguage = \"not a tag!\"\n",
    )
    .unwrap();
    std::fs::write(
        feeds.join("b.toml"),
        "[[section]]\nslug = \"b\"\ntitle = \"乙\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let config = dir.path().join("tidings.toml");
    std::fs::write(
        &config,
        format!("catalog_dir = {:?}\n", feeds.display().to_string()),
    )
    .unwrap();
    let check = |config: &Path| {
        let command = Command::new(env!("CARGO_BIN_EXE_tidings"));
        run(
            command,
            dir.path(),
            &["--config", config.to_str().unwrap(), "check"],
            None,
        )
    };
    let out = check(&config);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let a = feeds.join("a.toml").display().to_string();
    let b = feeds.join("b.toml").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{a}:6: duplicate section news: already defined at {a}:2"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{a}:10: unknown parent section ghost")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{a}:17: language \"not a tag!\" is not a BCP 47")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{b}:4: unknown field `colour`")),
        "{stderr}"
    );

    std::fs::write(&config, "listen = \"127.0.0.1:9\"\nlisen = 1\n").unwrap();
    let out = check(&config);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("tidings.toml:2: unknown field `lisen`"),
        "{}",
        text(&out.stderr)
    );

    let ok = tidings(&repo_path(""), &["check"], None);
    assert!(
        ok.status.success(),
        "the shipped catalogue is valid: {}",
        text(&ok.stderr)
    );
}

#[tokio::test]
async fn a_running_server_picks_up_what_the_cli_ingested() {
    let app = spawn_app_with(|c| c.feeds.poll_interval_ms = 50).await;
    let before = app.get_text("/feeds/zjhn/lyfw.rss").await;
    assert!(!before.contains("景区开放"));
    let dir = app.dir.path().to_owned();
    let file = dir.join("one.json");
    std::fs::write(
        &file,
        article("cli-live", "zjhn/lyfw", "景区开放").to_string(),
    )
    .unwrap();
    let database = app.config.database_url.clone();
    // Not std's blocking `output()`: the server runs on this test's runtime, and blocking it
    // would freeze the server in the middle of a transaction while the CLI waits for it.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["ingest", file.to_str().unwrap()])
        .current_dir(repo_path(""))
        .env("TIDINGS_DATABASE_URL", database)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The change watcher picks it up.
    eventually(
        "the feed to show the article ingested by the CLI",
        || async {
            let feed = app.get_text("/feeds/zjhn/lyfw.rss").await;
            feed.contains("景区开放").then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn the_cli_and_the_server_write_the_same_database_at_once_without_errors() {
    let app = spawn_app_with(|c| c.feeds.poll_interval_ms = 50).await;
    let dir = app.dir.path().to_owned();
    let ndjson: String = (0..300)
        .map(|i| format!("{}\n", article(&format!("cli-c-{i}"), "zwgk", "并发")))
        .collect();
    std::fs::write(dir.join("many.ndjson"), ndjson).unwrap();
    let database = app.config.database_url.clone();
    let cli = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["ingest", dir.join("many.ndjson").to_str().unwrap()])
            .current_dir(repo_path(""))
            .env("TIDINGS_DATABASE_URL", database)
            .output()
            .unwrap()
    });
    for i in 0..150 {
        let response = app
            .post_article(&article(&format!("http-c-{i}"), "zwgk", "并发"))
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }
    let out = cli.await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "300 created, 0 updated, 0 unchanged, 0 rejected"
    );
    assert_eq!(app.events().await.len(), 450);
}

/// From any folder: with no configuration file the built-in defaults and catalogue serve; a
/// file named on the command line must exist; a relative catalogue folder in a file is found
/// from that file's folder, whatever the working folder.
#[test]
fn the_configuration_and_catalogue_are_found_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let bare = || Command::new(env!("CARGO_BIN_EXE_tidings"));

    let out = run(bare(), dir.path(), &["check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "ok: no configuration file (the built-in defaults); 13 sections and 0 sources in the built-in catalogue"
    );

    let out = run(
        bare(),
        dir.path(),
        &["--config", "/nonexistent.toml", "check"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.lines().next().unwrap(),
        "/nonexistent.toml: cannot read the configuration file: No such file or directory (os error 2)"
    );

    let shipped = repo_path("config/tidings.toml");
    let out = run(
        bare(),
        dir.path(),
        &["--config", shipped.to_str().unwrap(), "check"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let feeds = std::fs::canonicalize(repo_path("config"))
        .unwrap()
        .join("../feeds");
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "ok: {}; 13 sections and 0 sources in {}",
            shipped.display(),
            feeds.display()
        )
    );
}

/// The binary serving in `dir` on `port` with nothing but `env` configured (no file, no
/// catalogue folder): what a new user starts.
fn serve_in(dir: &Path, port: u16, env: &[(&str, &str)]) -> KillOnDrop {
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .arg("serve")
            .current_dir(dir)
            .env("TIDINGS_LISTEN", format!("127.0.0.1:{port}"))
            .env("TIDINGS_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// `TIDINGS_LISTEN` alone moves every self link, topic and `Location` with it.
#[tokio::test]
async fn base_url_follows_the_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = serve_in(
        dir.path(),
        port,
        &[("TIDINGS_API_TOKEN", crate::helpers::TOKEN)],
    );
    let client = reqwest::Client::new();
    crate::helpers::wait_healthy(&client, &base).await;
    let feed = client
        .get(format!("{base}/feeds/all.atom"))
        .send()
        .await
        .unwrap();
    let link = feed.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains(&format!("<{base}/websub>")), "{link}");
    let body = feed.text().await.unwrap();
    assert!(
        body.contains(&format!("href=\"{base}/feeds/all.atom\"")),
        "{body}"
    );
    let created = client
        .post(format!("{base}/api/v1/articles"))
        .bearer_auth(crate::helpers::TOKEN)
        .json(&article("moved", "hnyw/ldhd", "跟随监听地址"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["location"],
        format!("{base}/api/v1/articles/moved").as_str()
    );
    drop(server);
    // The database went where the defaults put it: under the working folder.
    assert!(dir.path().join("data/tidings.db").exists());
}

/// A service started with no token makes one, in a file only its owner can read, that every
/// shell can use; the next start uses the same one.
#[tokio::test]
async fn a_service_without_a_token_makes_one_for_every_shell() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let start = || serve_in(dir.path(), port, &[]);
    let client = reqwest::Client::new();
    let publish = |token: Option<String>, id: &'static str| {
        let mut request = client
            .post(format!("{base}/api/v1/articles"))
            .json(&article(id, "hnyw/ldhd", "令牌"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let server = start();
    crate::helpers::wait_healthy(&client, &base).await;
    let file = dir.path().join("data/api-token");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(token.len(), 48);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        publish(Some(token.clone()), "a").await.unwrap().status(),
        201
    );
    assert_eq!(publish(None, "b").await.unwrap().status(), 401);
    drop(server);

    let _server = start();
    crate::helpers::wait_healthy(&client, &base).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
    assert_eq!(publish(Some(token), "c").await.unwrap().status(), 201);
}
