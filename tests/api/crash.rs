//! Nothing is lost: the real binary is killed with SIGKILL in the middle of a fan-out and
//! started again; every (event, endpoint) pair still arrives.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    BinarySetup, TOKEN, article, binary_setup, start_binary as start, wait_healthy,
};
use crate::receiver::Receiver;

const ARTICLES: usize = 1000;
const ENDPOINTS: usize = 3;

fn total(receivers: &[Receiver]) -> usize {
    receivers.iter().map(|r| r.received().len()).sum()
}

#[tokio::test]
async fn killing_the_process_mid_fan_out_loses_no_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let BinarySetup { base, config } = binary_setup(dir.path(), "").await;

    let mut receivers = Vec::new();
    for _ in 0..ENDPOINTS {
        let r = Receiver::start().await;
        // Slow enough that the fan-out is still running when the process is killed.
        r.slow_down(Duration::from_millis(5));
        receivers.push(r);
    }
    let client = reqwest::Client::new();
    let mut server = start(&config);
    wait_healthy(&client, &base).await;
    for r in &receivers {
        let response = client
            .post(format!("{base}/api/v1/webhooks"))
            .bearer_auth(TOKEN)
            .json(&json!({ "url": r.url }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let ndjson: String = (0..ARTICLES)
        .map(|i| {
            format!(
                "{}\n",
                article(&format!("crash-{i}"), "hnyw/ldhd", &format!("第{i}篇"))
            )
        })
        .collect();
    let response = client
        .post(format!("{base}/api/v1/articles/batch"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let batch: Value = response.json().await.unwrap();
    assert_eq!(batch["created"], ARTICLES);

    tokio::time::timeout(Duration::from_secs(120), async {
        while total(&receivers) < 300 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the fan-out never started");
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let at_kill = total(&receivers);
    assert!(
        at_kill < ARTICLES * ENDPOINTS,
        "the kill came after the fan-out finished"
    );

    let mut server = start(&config);
    wait_healthy(&client, &base).await;
    let complete = tokio::time::timeout(Duration::from_secs(300), async {
        loop {
            let all_there = receivers.iter().all(|r| {
                let ids: std::collections::HashSet<String> = r
                    .received()
                    .iter()
                    .map(|x| x.header("webhook-id").to_owned())
                    .collect();
                ids.len() >= ARTICLES
            });
            if all_there {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    server.kill().ok();
    server.wait().ok();
    assert!(
        complete.is_ok(),
        "not every (event, endpoint) pair arrived after the restart"
    );

    let mut duplicates = 0;
    for r in &receivers {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for x in r.received() {
            *seen.entry(x.header("webhook-id").to_owned()).or_default() += 1;
        }
        assert_eq!(seen.len(), ARTICLES);
        duplicates += seen.values().map(|n| n - 1).sum::<usize>();
    }
    println!(
        "crash test: {ARTICLES} articles x {ENDPOINTS} endpoints = {} pairs; {at_kill} had arrived when the process was killed; all {} arrived after the restart, with {duplicates} duplicate(s) (same webhook-id)",
        ARTICLES * ENDPOINTS,
        ARTICLES * ENDPOINTS
    );
}
