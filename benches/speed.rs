//! The speed figures of tidings, each beside a reference measured in the same run (A and B
//! alternated), with their ratio (tidings / reference), so that results compare across
//! machines:
//!
//! 1. a feed cache miss (`all.atom`, and `hnyw.atom`, a section with children) as the store
//!    grows (1k, 10k, 100k articles; 1M with `--large`), against a bare indexed read of the 50
//!    newest rows with sqlx; and the rate at which the store was seeded over HTTP;
//! 2. 50 readers arriving together right after a publish, against one reader alone;
//! 3. ingest in batches of 100 from 1 and 4 clients, against bare inserts into tidings' own
//!    schema;
//! 4. single POSTs from 16 connections, against bare one-row transactions from 16 tasks;
//! 5. `tidings ingest` of a large NDJSON file: rate against a bare parse-and-insert, and peak
//!    resident memory against the file's size;
//! 6. fan-out of one article to 5,000 webhook endpoints and 5,000 WebSub subscribers, against a
//!    bare HTTP client sending the same bodies to the same receiver, 32 at a time;
//! 7. publish → webhook arrival latency with 10 endpoints, against 10 bare concurrent POSTs;
//! 8. bytes stored per article, against the bare table of figure 1;
//! 9. resident memory of `tidings serve` with the seeded store, against the same binary on an
//!    empty one.
//!
//! With `TIDINGS_TEST_DATABASE_URL` naming a PostgreSQL server, figures 1 (1k and 10k) and 3
//! are measured on PostgreSQL too. `scripts/bench` runs this with the other benches and
//! writes `<target>/bench/report.{md,json}`. By hand:
//! `cargo bench --bench speed -- [--large] [--only 1,3] [--sizes 1000,10000]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, QueryBuilder, SqlitePool};
use tidings::app::Application;
use tidings::catalog::load_catalog;
use tidings::config::Config;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-token-with-every-scope";
/// Articles per HTTP batch while seeding the store.
const SEED_BATCH: usize = 500;
/// Articles generated and sent at a time while seeding (bounds the bench's own memory).
const SEED_CHUNK: u64 = 10_000;
/// Timed cache misses per feed and size.
const MISSES: usize = 20;
/// Readers arriving together (figure 2), and the rounds of it.
const READERS: usize = 50;
const READER_ROUNDS: usize = 5;
/// Figure 3: batch size, articles per run, runs (pairs).
const BATCH: usize = 100;
const INGEST_ARTICLES: usize = 3000;
const PAIRS: usize = 3;
/// Figure 4: single POSTs in flight, and POSTs per run.
const CONNECTIONS: usize = 16;
const SINGLE_POSTS: usize = 1600;
/// Figure 6: the bare client's concurrency.
const BARE_CONCURRENCY: usize = 32;
/// Figure 7: endpoints, publishes, and the most time spent on them.
const LATENCY_ENDPOINTS: usize = 10;
const LATENCY_ROUNDS: usize = 200;
const LATENCY_BUDGET: Duration = Duration::from_secs(120);
/// The chunk `tidings ingest` stores per transaction (its `INGEST_CHUNK`), for its reference.
const CLI_CHUNK: usize = 500;

fn main() {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(options));
}

// ---------------------------------------------------------------------------------------------
// Options, machine, report

struct Options {
    large: bool,
    sizes: Vec<u64>,
    only: Option<Vec<u32>>,
    report_dir: PathBuf,
    /// Output of the other benches to fold into the report.
    extra: Vec<PathBuf>,
    load_start: String,
    postgres: Option<String>,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1).cloned())
        };
        let list = |raw: String| -> Vec<u64> {
            raw.split(',')
                .map(|s| s.trim().parse().expect("a number"))
                .collect()
        };
        let large = args.iter().any(|a| a == "--large");
        let sizes = value("--sizes").map(list).unwrap_or_else(|| {
            let mut sizes = vec![1_000, 10_000, 100_000];
            if large {
                sizes.push(1_000_000);
            }
            sizes
        });
        let only = value("--only").map(|raw| list(raw).into_iter().map(|n| n as u32).collect());
        let report_dir = std::env::var_os("SPEED_BENCH_REPORT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(default_report_dir);
        let extra = std::env::var("SPEED_BENCH_EXTRA")
            .map(|raw| {
                raw.split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            large,
            sizes,
            only,
            report_dir,
            extra,
            load_start: std::env::var("SPEED_BENCH_LOAD_START").unwrap_or_else(|_| loadavg()),
            postgres: std::env::var("TIDINGS_TEST_DATABASE_URL")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    fn wants(&self, figure: u32) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&figure))
    }
}

/// `<target>/bench`: the bench runs as `<target>/release/deps/speed-…`.
fn default_report_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's path");
    exe.ancestors()
        .nth(3)
        .map(|target| target.join("bench"))
        .unwrap_or_else(|| PathBuf::from("target/bench"))
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(manifest_dir())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let memory_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    json!({
        "uname": command_output("uname", &["-srm"]).unwrap_or_else(|| "unknown".into()),
        "cpu": cpu,
        "cores": cores,
        "memory_gib": (memory_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
    })
}

fn git_commit() -> String {
    let Some(commit) = command_output("git", &["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} (with uncommitted changes)")
    } else {
        commit
    }
}

struct Figure {
    group: String,
    name: String,
    tidings: f64,
    reference: f64,
    unit: String,
    reference_is: String,
}

impl Figure {
    fn ratio(&self) -> f64 {
        if self.reference > 0.0 {
            self.tidings / self.reference
        } else {
            f64::NAN
        }
    }
}

struct Report {
    started: DateTime<Utc>,
    machine: Value,
    commit: String,
    load_start: String,
    options: Value,
    figures: Vec<Figure>,
    notes: Vec<String>,
    dir: PathBuf,
    extra: Vec<PathBuf>,
    group: String,
}

/// A number with about three significant digits.
fn num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "n/a".into()
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

impl Report {
    fn group(&mut self, name: &str) {
        println!("\n## {name}");
        self.group = name.to_owned();
    }

    fn add(&mut self, name: &str, tidings: f64, reference: f64, unit: &str, reference_is: &str) {
        let figure = Figure {
            group: self.group.clone(),
            name: name.to_owned(),
            tidings,
            reference,
            unit: unit.to_owned(),
            reference_is: reference_is.to_owned(),
        };
        println!(
            "{name}: tidings {} {unit}, reference {} {unit}, ratio {}",
            num(tidings),
            num(reference),
            num(figure.ratio())
        );
        self.figures.push(figure);
    }

    fn note(&mut self, text: String) {
        println!("note: {text}");
        self.notes.push(text);
    }

    /// The other benches' figures (`feeds`), parsed from their output, and their raw output.
    fn extra_outputs(&self) -> (Vec<Figure>, Vec<(String, String)>) {
        let mut figures = Vec::new();
        let mut raw = Vec::new();
        for path in &self.extra {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            for line in text.lines() {
                // `{case} {x} µs/op   reference {y} µs/op   ratio {z}` (benches/feeds.rs)
                let Some((left, right)) = line.split_once(" µs/op   reference ") else {
                    continue;
                };
                let Some((case, value)) = left.trim_end().rsplit_once(' ') else {
                    continue;
                };
                let Some((reference, _)) = right.split_once(" µs/op") else {
                    continue;
                };
                if let (Ok(t), Ok(r)) = (value.trim().parse(), reference.trim().parse()) {
                    figures.push(Figure {
                        group: format!("{name} bench"),
                        name: case.trim().to_owned(),
                        tidings: t,
                        reference: r,
                        unit: "µs/op".into(),
                        reference_is: "see benches/feeds.rs".into(),
                    });
                }
            }
            raw.push((name, text));
        }
        (figures, raw)
    }

    /// Writes report.json and report.md; called after every group, so that an interrupted
    /// run leaves what it measured (`complete: false`).
    fn write(&self, complete: bool) {
        std::fs::create_dir_all(&self.dir).expect("the report folder");
        let (extra_figures, raw) = self.extra_outputs();
        let load_end = loadavg();
        let figure_json = |f: &Figure| {
            json!({
                "group": f.group, "name": f.name, "tidings": f.tidings, "reference": f.reference,
                "ratio": f.ratio(), "unit": f.unit, "reference_is": f.reference_is,
            })
        };
        let report = json!({
            "started": self.started.to_rfc3339_opts(SecondsFormat::Secs, true),
            "complete": complete,
            "machine": self.machine,
            "load_average_start": self.load_start,
            "load_average_end": load_end,
            "commit": self.commit,
            "options": self.options,
            "figures": self.figures.iter().chain(&extra_figures).map(figure_json).collect::<Vec<_>>(),
            "notes": self.notes,
            "other_bench_output": raw.iter().map(|(n, t)| json!({"bench": n, "output": t})).collect::<Vec<_>>(),
        });
        std::fs::write(
            self.dir.join("report.json"),
            serde_json::to_string_pretty(&report).expect("JSON") + "\n",
        )
        .expect("report.json");

        let m = &self.machine;
        let mut md = String::new();
        md.push_str("# tidings speed report\n\n");
        if !complete {
            md.push_str("**Incomplete: the run stopped before the end.**\n\n");
        }
        md.push_str(&format!(
            "- started: {}\n- machine: {}; {}; {} cores; {} GiB\n- load average (1, 5, 15 min): {} at start, {} at end\n- commit: {}\n- options: {}\n\n",
            self.started.to_rfc3339_opts(SecondsFormat::Secs, true),
            m["uname"].as_str().unwrap_or("?"),
            m["cpu"].as_str().unwrap_or("?"),
            m["cores"],
            m["memory_gib"],
            self.load_start,
            load_end,
            self.commit,
            self.options,
        ));
        md.push_str("Ratio = tidings / reference: above 1 for a time or a size means tidings takes more, below 1 for a rate means it does less.\n\n");
        let mut group = String::new();
        for f in self.figures.iter().chain(&extra_figures) {
            if f.group != group {
                group = f.group.clone();
                md.push_str(&format!(
                    "\n### {group}\n\n| figure | tidings | reference | ratio | unit | reference is |\n| --- | ---: | ---: | ---: | --- | --- |\n"
                ));
            }
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                f.name,
                num(f.tidings),
                num(f.reference),
                num(f.ratio()),
                f.unit,
                f.reference_is
            ));
        }
        if !self.notes.is_empty() {
            md.push_str("\n### Notes\n\n");
            for note in &self.notes {
                md.push_str(&format!("- {note}\n"));
            }
        }
        for (name, text) in raw {
            md.push_str(&format!(
                "\n### Output of `cargo bench --bench {name}`\n\n```\n{}\n```\n",
                text.trim_end()
            ));
        }
        std::fs::write(self.dir.join("report.md"), md).expect("report.md");
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn size_label(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Articles: a deterministic generator of Chinese government news

/// splitmix64: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SENTENCES: &[&str] = &[
    "近日，黄南州召开全州农牧业工作会议，安排部署春耕备耕和畜牧业生产各项重点工作。",
    "会议强调，要坚持生态优先、绿色发展，扎实推进国家公园示范省建设黄南行动。",
    "州委副书记、州长主持召开州政府常务会议，研究部署当前经济社会发展重点工作。",
    "同仁市加快推进热贡文化生态保护实验区建设，唐卡、堆绣、泥塑等非遗技艺传承取得新进展。",
    "尖扎县依托黄河沿岸资源优势，大力发展特色种植业，今年累计种植优质蔬菜一万二千余亩。",
    "泽库县持续推进草原生态保护补助奖励政策落实，全县天然草原综合植被盖度稳步提升。",
    "河南蒙古族自治县以有机畜牧业为抓手，培育壮大牦牛、欧拉羊等特色产业品牌。",
    "州教育局组织开展义务教育薄弱环节改善与能力提升专项督导，确保各项政策落到实处。",
    "今年以来，全州累计接待游客二百余万人次，实现旅游总收入十余亿元，同比分别增长百分之十五和百分之十八。",
    "麦秀国家森林公园、坎布拉国家地质公园等景区推出多条精品旅游线路，吸引省内外游客前来观光。",
    "州卫生健康委员会深入开展健康黄南行动，基层医疗卫生服务能力进一步增强。",
    "会议传达学习了省委、省政府有关会议精神，听取了各县市和州直有关部门工作汇报。",
    "各级各部门要进一步提高政治站位，强化责任担当，确保各项目标任务按期完成。",
    "州生态环境局加强黄河流域水生态环境保护，全州地表水考核断面水质优良比例保持百分之百。",
    "全州上下认真落实河湖长制，常态化开展清河行动，河湖面貌持续改善。",
    "州农牧水利和科技局组织农技人员深入田间地头，指导农牧民做好病虫害防治和田间管理。",
    "同仁市隆务镇加快推进高原美丽乡村建设，村容村貌焕然一新，群众获得感不断增强。",
    "州人力资源和社会保障局举办春风行动专场招聘会，六十余家企业提供就业岗位一千二百多个。",
    "黄南州全面推进乡村振兴，巩固拓展脱贫攻坚成果，防止规模性返贫的底线牢牢守住。",
    "调研组一行先后来到企业、合作社和项目建设现场，详细了解生产经营和项目推进情况。",
    "州文化旅游广电局举办热贡艺术节，集中展示了黄南多元民族文化的独特魅力。",
    "尖扎县坎布拉镇依托乡村旅游，带动周边农牧民群众实现家门口就业增收。",
    "泽库县和日村石刻技艺传承人带领群众发展石刻产业，走出了一条文化致富的新路子。",
    "州发展和改革委员会召开重点项目推进会，逐项梳理项目前期工作和建设进度。",
    "各县市要压紧压实安全生产责任，深入开展安全隐患排查整治，坚决遏制重特大事故发生。",
    "州市场监督管理局开展食品安全专项检查，共检查各类食品经营主体三百余家。",
    "河南县宁木特镇牧民群众积极参与生态管护，草原管护员队伍发挥了重要作用。",
    "州财政局下达衔接推进乡村振兴补助资金，重点支持产业发展和基础设施建设。",
    "全州中小学校开展民族团结进步教育进校园活动，引导青少年铸牢中华民族共同体意识。",
    "黄南州职业技术学校深化产教融合，开设唐卡绘画、藏医药等特色专业，毕业生就业率稳步提高。",
    "州林业和草原局组织开展国土绿化行动，全年完成营造林任务八万余亩。",
    "冬春季节，各地加强牲畜越冬饲草料储备，确保牲畜安全越冬度春。",
    "州交通运输局加快推进农村公路建设，全州乡镇和建制村通硬化路率达到百分之百。",
    "会议要求，要持续优化营商环境，深化放管服改革，为各类市场主体提供优质高效服务。",
    "州政务服务监督管理局推进政务服务一网通办，群众办事更加方便快捷。",
    "州应急管理局开展防汛应急演练，进一步提升了突发事件应急处置能力。",
    "同仁市热贡艺术产业园区入驻企业达五十余家，带动从业人员两万余人。",
    "黄南州积极推进清洁能源开发利用，光伏、风电等新能源项目建设有序推进。",
    "州民政局进一步完善社会救助体系，城乡低保、特困供养等政策全面落实到位。",
    "州委宣传部组织理论宣讲小分队深入基层，用群众听得懂的语言宣讲党的创新理论。",
    "与会人员围绕议题进行了深入讨论，提出了许多具有针对性和可操作性的意见建议。",
    "下一步，将继续加大工作力度，确保各项惠民政策落地见效，让群众得到更多实惠。",
];

const ORGANS: &[&str] = &[
    "黄南州",
    "同仁市",
    "尖扎县",
    "泽库县",
    "河南县",
    "州政府",
    "州委",
    "州农牧水利和科技局",
    "州教育局",
    "州文化旅游广电局",
    "州生态环境局",
];

const ACTIONS: &[&str] = &[
    "召开农牧业工作会议",
    "部署安全生产工作",
    "推进生态环境保护",
    "开展民族团结进步教育活动",
    "举办热贡艺术节",
    "调研乡村振兴工作",
    "推进重点项目建设",
    "召开防汛工作会议",
    "开展食品安全专项检查",
    "推进教育高质量发展",
    "发布旅游精品线路",
    "召开常务会议",
    "推进河湖长制工作",
];

const SOURCES: &[&str] = &[
    "黄南报",
    "黄南州融媒体中心",
    "州政府办公室",
    "同仁市融媒体中心",
];

/// One generated article: its JSON document as sent, and what the references store.
struct Generated {
    id: String,
    section: String,
    published: DateTime<Utc>,
    json: String,
}

impl Generated {
    fn published_key(&self) -> String {
        self.published.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

struct Corpus {
    sections: Vec<String>,
}

impl Corpus {
    fn load() -> Self {
        let catalog = load_catalog(&manifest_dir().join("feeds")).expect("the catalogue");
        Self {
            sections: catalog
                .sections()
                .map(|s| s.path.as_str().to_owned())
                .collect(),
        }
    }

    /// Article `n` of the series `prefix`: the same every run.
    fn article(&self, prefix: &str, n: u64) -> Generated {
        self.article_in(prefix, n, None)
    }

    fn article_in(&self, prefix: &str, n: u64, section: Option<&str>) -> Generated {
        let mut rng = Self::rng(prefix, n);
        let (section, published) = self.head(&mut rng, section);
        let id = format!("{prefix}-{n:07}");
        let title = format!(
            "{}{}（{}）",
            rng.pick(ORGANS),
            rng.pick(ACTIONS),
            published.format("%Y年%-m月%-d日")
        );
        let target = 2000 + rng.below(2000) as usize;
        let mut html = String::with_capacity(target + 400);
        while html.len() < target {
            html.push_str("<p>");
            for _ in 0..2 + rng.below(3) {
                html.push_str(rng.pick::<&str>(SENTENCES));
            }
            html.push_str("</p>");
            if rng.below(6) == 0 {
                html.push_str(&format!(
                    "<p style=\"text-align:center\"><img src=\"{}.jpg\" alt=\"\"></p>",
                    rng.next() % 10_000_000_000
                ));
            }
        }
        let doc = json!({
            "id": id,
            "section": section,
            "title": title,
            "url": format!(
                "https://www.huangnan.gov.cn/{section}/{}/t{}_{n}.html",
                published.format("%Y%m"),
                published.format("%Y%m%d")
            ),
            "published": published.to_rfc3339(),
            "source": rng.pick(SOURCES),
            "content_html": html,
        });
        Generated {
            id,
            section,
            published: published.with_timezone(&Utc),
            json: doc.to_string(),
        }
    }

    fn rng(prefix: &str, n: u64) -> Rng {
        let salt = prefix
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Rng::new(n.wrapping_add(salt.wrapping_mul(0x0100_0000_01B3)))
    }

    /// The first draws of an article: its section and publication time.
    fn head(&self, rng: &mut Rng, section: Option<&str>) -> (String, DateTime<FixedOffset>) {
        let section = section
            .map(str::to_owned)
            .unwrap_or_else(|| rng.pick(&self.sections).clone());
        let zone = FixedOffset::east_opt(8 * 3600).expect("+08:00");
        let start = zone
            .with_ymd_and_hms(2015, 1, 1, 0, 0, 0)
            .single()
            .expect("a date");
        let published = start + chrono::Duration::seconds(rng.below(3652 * 86400) as i64);
        (section, published)
    }

    /// The newest of articles `0..count` of the series whose section lies in `scope` (`all`:
    /// any): a change to it changes the feed's first entry.
    fn newest_in(&self, prefix: &str, scope: &str, count: u64) -> u64 {
        (0..count.max(1))
            .filter_map(|n| {
                let (section, published) = self.head(&mut Self::rng(prefix, n), None);
                let inside =
                    scope == "all" || section == scope || section.starts_with(&format!("{scope}/"));
                inside.then_some((published, n))
            })
            .max()
            .map(|(_, n)| n)
            .expect("an article in the scope")
    }

    /// Article `n` again, changed (its title carries `k`): publishing it invalidates its feeds.
    fn changed(&self, prefix: &str, n: u64, k: usize) -> Value {
        let mut doc: Value = serde_json::from_str(&self.article(prefix, n).json).expect("JSON");
        let title = format!("{}（更新 {k}）", doc["title"].as_str().unwrap_or_default());
        doc["title"] = title.into();
        doc
    }
}

fn batch_body(items: &[Generated]) -> String {
    let mut body = String::from("[");
    for (i, g) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&g.json);
    }
    body.push(']');
    body
}

// ---------------------------------------------------------------------------------------------
// The server under test, and HTTP helpers

struct Server {
    base: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_server(database_url: &str) -> Server {
    let feeds = manifest_dir().join("feeds");
    let catalog = load_catalog(&feeds).expect("the catalogue");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let mut config = Config {
        database_url: database_url.to_owned(),
        catalog_dir: Some(feeds),
        base_url: base.clone(),
        api_token: TOKEN.into(),
        ..Config::default()
    };
    config.delivery.allow_private_destinations = true;
    // One local receiver stands for thousands of subscribers on as many hosts: the caps per
    // callback host would refuse it, and the cap of deliveries in flight per host would send
    // to it with half the workers.
    config.websub.max_subscriptions_per_host = u64::MAX;
    config.websub.max_subscriptions_per_feed = u64::MAX;
    config.websub.max_pending_per_host = usize::MAX;
    config.delivery.max_per_host = config.delivery.concurrency;
    // Every subscriber and reader of the bench is one loopback client.
    config.websub.max_requests_per_client_per_minute = u32::MAX;
    config.feeds.max_misses_per_client_per_minute = u32::MAX;
    let app = Application::build_with_listener(config, catalog, listener)
        .await
        .expect("the app");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    Server {
        base,
        shutdown,
        task,
    }
}

impl Server {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(600))
        .build()
        .expect("a client")
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn post_batch(client: &reqwest::Client, base: &str, body: String) {
    let response = client
        .post(format!("{base}/api/v1/articles/batch"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert_eq!(status, 200, "batch: {text}");
    let answer: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(answer["rejected"], 0, "batch: {text}");
}

/// POSTs one article; the answer's status.
async fn post_article(client: &reqwest::Client, base: &str, body: String) -> u16 {
    let response = client
        .post(format!("{base}/api/v1/articles"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert!(status == 200 || status == 201, "publish: {status} {text}");
    status
}

/// GETs a feed in full; its time and ETag.
async fn get_feed(client: &reqwest::Client, url: &str) -> (Duration, String) {
    let start = Instant::now();
    let response = client.get(url).send().await.expect("an answer");
    assert_eq!(response.status(), 200, "{url}");
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    response.bytes().await.expect("a body");
    (start.elapsed(), etag)
}

async fn fresh_pg_database(server: &str) -> String {
    let mut url = url::Url::parse(server).expect("a URL");
    let name = format!("tidings_speed_{}", uuid::Uuid::now_v7().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(server)
        .await
        .expect("the PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a database");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

// ---------------------------------------------------------------------------------------------
// The references: bare databases driven with sqlx

#[derive(Clone)]
enum Bare {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A row of tidings' own schema, prepared before the timing starts.
struct Prepared {
    id: String,
    section: String,
    body: String,
    hash: String,
    published: DateTime<Utc>,
    event_id: String,
}

impl Prepared {
    fn of(g: &Generated) -> Self {
        Self {
            id: g.id.clone(),
            section: g.section.clone(),
            hash: hex::encode(Sha256::digest(g.json.as_bytes())),
            body: g.json.clone(),
            published: g.published,
            event_id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
        }
    }
}

impl Bare {
    /// A SQLite file opened like the service opens its own: WAL, synchronous=NORMAL, one
    /// writer connection.
    async fn sqlite(path: &Path) -> Self {
        let options = SqliteConnectOptions::from_str(&sqlite_url(path))
            .expect("a URL")
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("a SQLite file");
        Bare::Sqlite(pool)
    }

    async fn postgres(url: &str) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await
            .expect("a PostgreSQL database");
        Bare::Postgres(pool)
    }

    async fn execute_script(&self, sql: &str) {
        match self {
            Bare::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Bare::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
        .expect("the script runs");
    }

    /// The plain table of figure 1's reference.
    async fn create_plain(&self) {
        self.execute_script(
            "CREATE TABLE articles (id TEXT PRIMARY KEY, section TEXT NOT NULL, \
             published_utc TEXT NOT NULL, body TEXT NOT NULL); \
             CREATE INDEX articles_by_published ON articles (published_utc);",
        )
        .await;
    }

    /// tidings' own schema: the migrations of the engine, applied in order.
    async fn create_schema(&self) {
        let dir = manifest_dir().join("migrations").join(match self {
            Bare::Sqlite(_) => "sqlite",
            Bare::Postgres(_) => "postgres",
        });
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("the migrations")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).expect("a migration");
            self.execute_script(&sql).await;
        }
    }

    /// Inserts rows into the plain table, in one transaction.
    async fn insert_plain(&self, rows: &[Generated]) {
        match self {
            Bare::Sqlite(pool) => {
                let mut tx = pool.begin().await.expect("a transaction");
                for g in rows {
                    sqlx::query("INSERT INTO articles (id, section, published_utc, body) VALUES (?1, ?2, ?3, ?4)")
                        .bind(&g.id)
                        .bind(&g.section)
                        .bind(g.published_key())
                        .bind(&g.json)
                        .execute(&mut *tx)
                        .await
                        .expect("an insert");
                }
                tx.commit().await.expect("a commit");
            }
            Bare::Postgres(pool) => {
                let mut tx = pool.begin().await.expect("a transaction");
                let mut q = QueryBuilder::<Postgres>::new(
                    "INSERT INTO articles (id, section, published_utc, body) ",
                );
                q.push_values(rows, |mut b, g| {
                    b.push_bind(&g.id)
                        .push_bind(&g.section)
                        .push_bind(g.published_key())
                        .push_bind(&g.json);
                });
                q.build().execute(&mut *tx).await.expect("an insert");
                tx.commit().await.expect("a commit");
            }
        }
    }

    /// `SELECT body FROM articles ORDER BY published_utc DESC LIMIT 50`, every row fetched.
    async fn read_newest(&self) -> usize {
        let sql = "SELECT body FROM articles ORDER BY published_utc DESC LIMIT 50";
        let rows: Vec<(String,)> = match self {
            Bare::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Bare::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .expect("rows");
        rows.iter().map(|r| r.0.len()).sum()
    }

    /// Inserts articles and their events into tidings' own schema, in one transaction: row by
    /// row on SQLite, one multi-row statement per table on PostgreSQL. The event of a new
    /// article holds no copy of it (it reads the article's row), as tidings writes it.
    async fn insert_schema(&self, rows: &[Prepared]) {
        let now = Utc::now();
        match self {
            Bare::Sqlite(pool) => {
                let now = now.to_rfc3339_opts(SecondsFormat::Micros, true);
                let mut tx = pool.begin().await.expect("a transaction");
                for r in rows {
                    sqlx::query(
                        "INSERT INTO articles (id, section, body, content_hash, published_utc, version, created_at, modified_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6)",
                    )
                    .bind(&r.id)
                    .bind(&r.section)
                    .bind(&r.body)
                    .bind(&r.hash)
                    .bind(r.published.to_rfc3339_opts(SecondsFormat::Micros, true))
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .expect("an article");
                    sqlx::query(
                        "INSERT INTO events (id, type, article_id, section, version, occurred_at)
                         VALUES (?1, 'article.published', ?2, ?3, 1, ?4)",
                    )
                    .bind(&r.event_id)
                    .bind(&r.id)
                    .bind(&r.section)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .expect("an event");
                }
                tx.commit().await.expect("a commit");
            }
            Bare::Postgres(pool) => {
                let mut tx = pool.begin().await.expect("a transaction");
                let mut q = QueryBuilder::<Postgres>::new(
                    "INSERT INTO articles (id, section, body, content_hash, published_utc, version, created_at, modified_at) ",
                );
                q.push_values(rows, |mut b, r| {
                    b.push_bind(&r.id)
                        .push_bind(&r.section)
                        .push_bind(&r.body)
                        .push_unseparated("::jsonb")
                        .push_bind(&r.hash)
                        .push_bind(r.published)
                        .push_bind(1i64)
                        .push_bind(now)
                        .push_bind(now);
                });
                q.build().execute(&mut *tx).await.expect("articles");
                let mut q = QueryBuilder::<Postgres>::new(
                    "INSERT INTO events (id, type, article_id, section, version, occurred_at) ",
                );
                q.push_values(rows, |mut b, r| {
                    b.push_bind(&r.event_id)
                        .push_bind("article.published")
                        .push_bind(&r.id)
                        .push_bind(&r.section)
                        .push_bind(1i64)
                        .push_bind(now);
                });
                q.build().execute(&mut *tx).await.expect("events");
                tx.commit().await.expect("a commit");
            }
        }
    }

    async fn close(self) {
        match self {
            Bare::Sqlite(pool) => pool.close().await,
            Bare::Postgres(pool) => pool.close().await,
        }
    }
}

/// The size of a SQLite database after a checkpoint: the file and its -wal.
async fn checkpointed_size(path: &Path) -> u64 {
    let options = SqliteConnectOptions::from_str(&sqlite_url(path)).expect("a URL");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("the file");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .expect("a checkpoint");
    pool.close().await;
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    size(path.to_owned()) + size(wal)
}

// ---------------------------------------------------------------------------------------------
// The receiver: counts what it is sent, per kind (`/{kind}/{n}`), and when; echoes WebSub
// challenges.

#[derive(Default)]
struct Tally {
    count: usize,
    arrivals: Vec<Instant>,
    sample: Option<Bytes>,
}

#[derive(Default)]
struct Received {
    kinds: Mutex<HashMap<String, Tally>>,
    notify: Notify,
}

impl Received {
    fn count(&self, kind: &str) -> usize {
        self.kinds
            .lock()
            .expect("the tally")
            .get(kind)
            .map_or(0, |t| t.count)
    }

    fn take(&self, kind: &str) -> Tally {
        self.kinds
            .lock()
            .expect("the tally")
            .remove(kind)
            .unwrap_or_default()
    }

    /// Waits until `kind` has `n` arrivals, then takes its tally.
    async fn wait_for(&self, kind: &str, n: usize, limit: Duration) -> Tally {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            if self.count(kind) >= n {
                return self.take(kind);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{kind}: {} of {n} arrived in {limit:?}",
                self.count(kind)
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }
}

async fn deliver(
    State(received): State<Arc<Received>>,
    UrlPath((kind, _n)): UrlPath<(String, String)>,
    body: Bytes,
) -> StatusCode {
    let now = Instant::now();
    {
        let mut kinds = received.kinds.lock().expect("the tally");
        let tally = kinds.entry(kind).or_default();
        tally.count += 1;
        tally.arrivals.push(now);
        if tally.sample.is_none() {
            tally.sample = Some(body);
        }
    }
    received.notify.notify_waiters();
    StatusCode::NO_CONTENT
}

async fn verify(
    State(received): State<Arc<Received>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
    {
        let mut kinds = received.kinds.lock().expect("the tally");
        kinds.entry("verify".into()).or_default().count += 1;
    }
    received.notify.notify_waiters();
    (StatusCode::OK, challenge)
}

async fn start_receiver(received: Arc<Received>) -> String {
    let app = Router::new()
        .route("/{kind}/{n}", get(verify).post(deliver))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The bare reference sender: `n` POSTs of `body` to `{receiver}/{kind}/{i}`, `concurrency` at
/// a time, through one plain reqwest client.
async fn bare_send(receiver: &str, kind: &str, body: &Bytes, n: usize, concurrency: usize) {
    let client = reqwest::Client::new();
    futures::stream::iter(0..n)
        .map(|i| {
            let request = client
                .post(format!("{receiver}/{kind}/{i}"))
                .header("content-type", "application/json")
                .body(body.clone());
            async move {
                let response = request.send().await.expect("an answer");
                assert!(response.status().is_success());
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
}

// ---------------------------------------------------------------------------------------------
// The run

async fn run(options: Options) {
    let mut report = Report {
        started: Utc::now(),
        machine: machine(),
        commit: git_commit(),
        load_start: options.load_start.clone(),
        options: json!({
            "large": options.large,
            "sizes": options.sizes,
            "postgres": options.postgres.is_some(),
            "only": options.only,
        }),
        figures: Vec::new(),
        notes: Vec::new(),
        dir: options.report_dir.clone(),
        extra: options.extra.clone(),
        group: String::new(),
    };
    println!(
        "machine: {} | commit {} | load {}",
        report.machine, report.commit, report.load_start
    );
    report.write(false);
    let corpus = Corpus::load();
    let work = tempfile::Builder::new()
        .prefix("tidings-speed-")
        .tempdir()
        .expect("a folder");

    if options.wants(1) || options.wants(2) || options.wants(8) || options.wants(9) {
        store_growth_sqlite(&options, &corpus, work.path(), &mut report).await;
        report.write(false);
    }
    if let Some(server) = &options.postgres
        && options.wants(1)
    {
        store_growth_postgres(server, &options, &corpus, &mut report).await;
        report.write(false);
    }
    if options.wants(3) || options.wants(4) {
        ingest_sqlite(&options, &corpus, work.path(), &mut report).await;
        report.write(false);
    }
    if let Some(server) = &options.postgres
        && options.wants(3)
    {
        ingest_postgres(server, &corpus, &mut report).await;
        report.write(false);
    }
    if options.wants(5) {
        ingest_cli(&options, &corpus, work.path(), &mut report).await;
        report.write(false);
    }
    if options.wants(6) {
        fan_out(&options, &corpus, work.path(), &mut report).await;
        report.write(false);
    }
    if options.wants(7) {
        latency(&corpus, work.path(), &mut report).await;
    }
    report.write(true);
    println!(
        "\nreport: {}",
        options.report_dir.join("report.md").display()
    );
}

/// Seeds `server` and the plain reference table with articles `from..to` of series "a";
/// the seconds each took.
async fn seed(
    client: &reqwest::Client,
    base: &str,
    bare: &Bare,
    corpus: &Corpus,
    from: u64,
    to: u64,
) -> (f64, f64) {
    let (mut tidings, mut reference) = (0.0, 0.0);
    let mut start = from;
    while start < to {
        let end = (start + SEED_CHUNK).min(to);
        let generated: Vec<Generated> = (start..end).map(|n| corpus.article("a", n)).collect();
        let bodies: Vec<String> = generated.chunks(SEED_BATCH).map(batch_body).collect();
        let t = Instant::now();
        futures::stream::iter(bodies)
            .map(|body| post_batch(client, base, body))
            .buffer_unordered(2)
            .collect::<Vec<()>>()
            .await;
        tidings += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for chunk in generated.chunks(SEED_BATCH) {
            bare.insert_plain(chunk).await;
        }
        reference += t.elapsed().as_secs_f64();
        start = end;
    }
    (tidings, reference)
}

/// Timed cache misses of `feed` (its scope `scope`), each after an untimed change in the
/// scope, alternated with the bare read; the medians, in ms.
async fn misses(
    client: &reqwest::Client,
    base: &str,
    bare: &Bare,
    corpus: &Corpus,
    scope: &str,
    stored: u64,
    round: &mut usize,
) -> (f64, f64, usize) {
    let n = corpus.newest_in("a", scope, stored);
    let url = format!("{base}/feeds/{scope}.atom");
    let (_, mut etag) = get_feed(client, &url).await;
    let (mut measured, mut reference, mut confirmed) = (Vec::new(), Vec::new(), 0);
    // One untimed round first: connections and statements warm on both sides.
    for i in 0..=MISSES {
        *round += 1;
        post_article(client, base, corpus.changed("a", n, *round).to_string()).await;
        let (took, new_etag) = get_feed(client, &url).await;
        let t = Instant::now();
        std::hint::black_box(bare.read_newest().await);
        let bare_took = t.elapsed();
        if i > 0 {
            measured.push(ms(took));
            reference.push(ms(bare_took));
            confirmed += usize::from(new_etag != etag);
        }
        etag = new_etag;
    }
    (median(&measured), median(&reference), confirmed)
}

async fn store_growth_sqlite(options: &Options, corpus: &Corpus, work: &Path, report: &mut Report) {
    report.group("1. Cache miss as the store grows (SQLite)");
    let dir = work.join("growth");
    std::fs::create_dir_all(&dir).expect("a folder");
    let db = dir.join("tidings.db");
    let bare_path = dir.join("bare.db");
    let server = start_server(&sqlite_url(&db)).await;
    let bare = Bare::sqlite(&bare_path).await;
    bare.create_plain().await;
    let client = client();
    let mut seeded = 0;
    let mut round = 0;
    let mut first_miss: Option<(f64, f64)> = None;
    let (mut seed_t, mut seed_r) = (0.0, 0.0);
    for &size in &options.sizes {
        let (t, r) = seed(&client, &server.base, &bare, corpus, seeded, size).await;
        println!(
            "seeded {} → {}: tidings {:.1} s, reference {:.1} s",
            seeded, size, t, r
        );
        seed_t += t;
        seed_r += r;
        seeded = size;
        let label = size_label(size);
        for scope in ["all", "hnyw"] {
            let (m, r, confirmed) = misses(
                &client,
                &server.base,
                &bare,
                corpus,
                scope,
                size,
                &mut round,
            )
            .await;
            report.add(
                &format!("miss {scope}.atom, 50 entries, {label} stored"),
                m,
                r,
                "ms",
                "SELECT body … ORDER BY published_utc DESC LIMIT 50 on a plain indexed table",
            );
            if confirmed < MISSES {
                report.note(format!(
                    "{scope}.atom at {label}: only {confirmed} of {MISSES} timed GETs saw a new ETag"
                ));
            }
            if scope == "all" {
                match first_miss {
                    None => first_miss = Some((m, r)),
                    Some((m0, r0)) if size == *options.sizes.last().expect("sizes") => {
                        let first = size_label(options.sizes[0]);
                        report.add(
                            &format!("growth of the all.atom miss, {label} / {first}"),
                            m / m0,
                            r / r0,
                            "×",
                            "the same growth of the bare read",
                        );
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let largest = size_label(seeded);
    report.add(
        &format!("seeding to {largest} (HTTP batches of {SEED_BATCH}, 2 clients)"),
        seeded as f64 / seed_t,
        seeded as f64 / seed_r,
        "articles/s",
        &format!("bare inserts into the plain table, {SEED_BATCH} rows per transaction"),
    );

    if options.wants(2) {
        readers_together(&client, &server.base, corpus, seeded, &mut round, report).await;
    }
    report.note(format!(
        "resident memory of the bench process (server in process, {largest} stored, after the misses): {} MiB",
        proc_status_kib("self", "VmRSS:").unwrap_or(0) / 1024
    ));
    server.stop().await;
    bare.close().await;

    if options.wants(8) {
        report.group("8. Bytes stored per article");
        let tidings = checkpointed_size(&db).await;
        let reference = checkpointed_size(&bare_path).await;
        report.add(
            &format!("database size per article, {largest} stored (SQLite, after a checkpoint)"),
            tidings as f64 / seeded as f64,
            reference as f64 / seeded as f64,
            "bytes",
            "the plain table of figure 1 (id, section, published_utc, body as sent)",
        );
        report.note(format!(
            "database files after a checkpoint: tidings {} MiB, plain table {} MiB",
            tidings / (1 << 20),
            reference / (1 << 20)
        ));
    }
    if options.wants(9) {
        report.group("9. Resident memory of `tidings serve`");
        let (rss, hwm) = serve_memory(&db, corpus, seeded).await;
        let empty = dir.join("empty.db");
        let (rss0, hwm0) = serve_memory(&empty, corpus, seeded).await;
        report.add(
            &format!("VmRSS of tidings serve, {largest} stored, after misses of every feed"),
            rss as f64 / 1024.0,
            rss0 as f64 / 1024.0,
            "MiB",
            "the same binary and requests on an empty database",
        );
        report.add(
            &format!("VmHWM (peak) of tidings serve, {largest} stored"),
            hwm as f64 / 1024.0,
            hwm0 as f64 / 1024.0,
            "MiB",
            "the same binary and requests on an empty database",
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Figure 2: 50 readers at once right after a publish, against one reader alone.
async fn readers_together(
    client: &reqwest::Client,
    base: &str,
    corpus: &Corpus,
    stored: u64,
    round: &mut usize,
    report: &mut Report,
) {
    report.group("2. Readers arriving together after a publish (SQLite)");
    let largest = size_label(stored);
    let url = format!("{base}/feeds/all.atom");
    let n = corpus.newest_in("a", "all", stored);
    let together = |url: String| async move {
        let start = Instant::now();
        futures::future::join_all((0..READERS).map(|_| {
            let url = url.clone();
            async move {
                get_feed(client, &url).await;
                ms(start.elapsed())
            }
        }))
        .await
    };
    // Untimed: opens the readers' connections.
    together(url.clone()).await;
    let (mut medians, mut slowest, mut alone) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..READER_ROUNDS {
        *round += 1;
        post_article(client, base, corpus.changed("a", n, *round).to_string()).await;
        let waits = together(url.clone()).await;
        medians.push(median(&waits));
        slowest.push(waits.iter().copied().fold(0.0, f64::max));
        *round += 1;
        post_article(client, base, corpus.changed("a", n, *round).to_string()).await;
        alone.push(ms(get_feed(client, &url).await.0));
    }
    let alone = median(&alone);
    report.add(
        &format!("{READERS} readers of all.atom after a publish, median wait, {largest} stored"),
        median(&medians),
        alone,
        "ms",
        "one reader alone after a publish",
    );
    report.add(
        &format!("{READERS} readers of all.atom after a publish, slowest wait, {largest} stored"),
        median(&slowest),
        alone,
        "ms",
        "one reader alone after a publish",
    );
}

fn proc_status_kib(pid: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The `TIDINGS_…` variables of the bench's environment (`TIDINGS_TEST_DATABASE_URL`, say): a
/// child `tidings` would read each as a configuration key, so it starts without them.
fn inherited_settings() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(key, _)| key)
        .filter(|key| key.to_string_lossy().starts_with("TIDINGS_"))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a port")
        .local_addr()
        .expect("an address")
        .port()
}

/// Figure 9: runs the release binary `tidings serve` on `db`, makes it miss every feed (and
/// the two feeds of figure 1 twenty times after a change), and reads its VmRSS and VmHWM (KiB).
async fn serve_memory(db: &Path, corpus: &Corpus, stored: u64) -> (u64, u64) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = PathBuf::from(format!("{}.log", db.display()));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"));
    for key in inherited_settings() {
        command.env_remove(key);
    }
    let mut child = command
        .args(["--config", "config/tidings.toml", "serve"])
        .current_dir(manifest_dir())
        .env("TIDINGS_LISTEN", format!("127.0.0.1:{port}"))
        .env("TIDINGS_BASE_URL", &base)
        .env("TIDINGS_DATABASE_URL", sqlite_url(db))
        .env("TIDINGS_API_TOKEN", TOKEN)
        .env("TIDINGS_CATALOG_DIR", manifest_dir().join("feeds"))
        .env("TIDINGS_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("tidings serve starts");
    let pid = child.id().expect("a pid").to_string();
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        let exited = child.try_wait().expect("a status");
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "tidings serve did not answer ({exited:?}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut k = 1_000_000;
    for scope in ["all", "hnyw"] {
        let n = corpus.newest_in("a", scope, stored);
        for _ in 0..MISSES {
            k += 1;
            post_article(&client, &base, corpus.changed("a", n, k).to_string()).await;
            get_feed(&client, &format!("{base}/feeds/{scope}.atom")).await;
        }
    }
    let mut scopes = vec!["all".to_owned()];
    scopes.extend(corpus.sections.iter().cloned());
    for scope in &scopes {
        for ext in ["rss", "atom", "json"] {
            get_feed(&client, &format!("{base}/feeds/{scope}.{ext}")).await;
        }
    }
    let rss = proc_status_kib(&pid, "VmRSS:").unwrap_or(0);
    let hwm = proc_status_kib(&pid, "VmHWM:").unwrap_or(0);
    child.start_kill().expect("a kill");
    let _ = child.wait().await;
    (rss, hwm)
}

async fn store_growth_postgres(
    server_url: &str,
    options: &Options,
    corpus: &Corpus,
    report: &mut Report,
) {
    report.group("1. Cache miss as the store grows (PostgreSQL)");
    let server = start_server(&fresh_pg_database(server_url).await).await;
    let bare = Bare::postgres(&fresh_pg_database(server_url).await).await;
    bare.create_plain().await;
    let client = client();
    let (mut seeded, mut round) = (0, 0);
    let (mut seed_t, mut seed_r) = (0.0, 0.0);
    for &size in options.sizes.iter().filter(|&&s| s <= 10_000) {
        let (t, r) = seed(&client, &server.base, &bare, corpus, seeded, size).await;
        seed_t += t;
        seed_r += r;
        seeded = size;
        for scope in ["all", "hnyw"] {
            let (m, r, _) = misses(
                &client,
                &server.base,
                &bare,
                corpus,
                scope,
                size,
                &mut round,
            )
            .await;
            report.add(
                &format!(
                    "miss {scope}.atom, 50 entries, {} stored (PostgreSQL)",
                    size_label(size)
                ),
                m,
                r,
                "ms",
                "the same SELECT on a plain indexed PostgreSQL table",
            );
        }
    }
    if seeded > 0 {
        report.add(
            &format!(
                "seeding to {} (HTTP batches of {SEED_BATCH}, 2 clients, PostgreSQL)",
                size_label(seeded)
            ),
            seeded as f64 / seed_t,
            seeded as f64 / seed_r,
            "articles/s",
            &format!("multi-row inserts into the plain table, {SEED_BATCH} rows per transaction"),
        );
    }
    server.stop().await;
    bare.close().await;
}

/// Figure 3 on one engine: batches of 100 from 1 and 4 clients, alternated with the bare
/// inserts, median of [`PAIRS`] pairs.
async fn batches(
    client: &reqwest::Client,
    base: &str,
    bare: &Bare,
    corpus: &Corpus,
    engine: &str,
    report: &mut Report,
) {
    for clients in [1usize, 4] {
        let (mut measured, mut reference) = (Vec::new(), Vec::new());
        for pair in 0..PAIRS {
            let prefix = format!("b{clients}-{pair}");
            let generated: Vec<Generated> = (0..INGEST_ARTICLES as u64)
                .map(|n| corpus.article(&prefix, n))
                .collect();
            let bodies: Vec<String> = generated.chunks(BATCH).map(batch_body).collect();
            let t = Instant::now();
            futures::stream::iter(bodies)
                .map(|body| post_batch(client, base, body))
                .buffer_unordered(clients)
                .collect::<Vec<()>>()
                .await;
            measured.push(INGEST_ARTICLES as f64 / t.elapsed().as_secs_f64());

            let prepared: Vec<Vec<Prepared>> = generated
                .chunks(BATCH)
                .map(|c| c.iter().map(Prepared::of).collect())
                .collect();
            let t = Instant::now();
            futures::stream::iter(&prepared)
                .map(|rows| bare.insert_schema(rows))
                .buffer_unordered(clients)
                .collect::<Vec<()>>()
                .await;
            reference.push(INGEST_ARTICLES as f64 / t.elapsed().as_secs_f64());
        }
        report.add(
            &format!("ingest, batches of {BATCH}, {clients} client(s) ({engine})"),
            median(&measured),
            median(&reference),
            "articles/s",
            &format!(
                "bare inserts (articles + events) into tidings' schema, one transaction per {BATCH}, {clients} task(s)"
            ),
        );
    }
}

async fn ingest_sqlite(options: &Options, corpus: &Corpus, work: &Path, report: &mut Report) {
    let dir = work.join("ingest");
    std::fs::create_dir_all(&dir).expect("a folder");
    let server = start_server(&sqlite_url(&dir.join("tidings.db"))).await;
    let bare = Bare::sqlite(&dir.join("bare.db")).await;
    bare.create_schema().await;
    let client = client();
    if options.wants(3) {
        report.group("3. Ingest in batches (SQLite)");
        batches(&client, &server.base, &bare, corpus, "SQLite", report).await;
    }
    if options.wants(4) {
        report.group("4. Single POSTs from 16 connections (SQLite)");
        let (mut rates, mut p99s, mut bare_rates, mut bare_p99s) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for pair in 0..PAIRS {
            let prefix = format!("s-{pair}");
            let generated: Vec<Generated> = (0..SINGLE_POSTS as u64)
                .map(|n| corpus.article(&prefix, n))
                .collect();
            let per_task = SINGLE_POSTS / CONNECTIONS;
            let t = Instant::now();
            let latencies: Vec<f64> =
                futures::future::join_all(generated.chunks(per_task).map(|chunk| {
                    let client = &client;
                    let base = &server.base;
                    async move {
                        let mut latencies = Vec::with_capacity(chunk.len());
                        for g in chunk {
                            let t = Instant::now();
                            post_article(client, base, g.json.clone()).await;
                            latencies.push(ms(t.elapsed()));
                        }
                        latencies
                    }
                }))
                .await
                .into_iter()
                .flatten()
                .collect();
            rates.push(SINGLE_POSTS as f64 / t.elapsed().as_secs_f64());
            p99s.push(percentile(&latencies, 99.0));

            let prepared: Vec<Prepared> = generated.iter().map(Prepared::of).collect();
            let t = Instant::now();
            let latencies: Vec<f64> =
                futures::future::join_all(prepared.chunks(per_task).map(|chunk| {
                    let bare = bare.clone();
                    async move {
                        let mut latencies = Vec::with_capacity(chunk.len());
                        for row in chunk {
                            let t = Instant::now();
                            bare.insert_schema(std::slice::from_ref(row)).await;
                            latencies.push(ms(t.elapsed()));
                        }
                        latencies
                    }
                }))
                .await
                .into_iter()
                .flatten()
                .collect();
            bare_rates.push(SINGLE_POSTS as f64 / t.elapsed().as_secs_f64());
            bare_p99s.push(percentile(&latencies, 99.0));
        }
        let reference_is = "bare one-row transactions (article + event), 16 tasks on one writer connection (WAL, synchronous=NORMAL)";
        report.add(
            &format!("single POSTs, {CONNECTIONS} connections, rate (SQLite)"),
            median(&rates),
            median(&bare_rates),
            "articles/s",
            reference_is,
        );
        report.add(
            &format!("single POSTs, {CONNECTIONS} connections, p99 latency (SQLite)"),
            median(&p99s),
            median(&bare_p99s),
            "ms",
            reference_is,
        );
    }
    server.stop().await;
    bare.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn ingest_postgres(server_url: &str, corpus: &Corpus, report: &mut Report) {
    report.group("3. Ingest in batches (PostgreSQL)");
    let server = start_server(&fresh_pg_database(server_url).await).await;
    let bare = Bare::postgres(&fresh_pg_database(server_url).await).await;
    bare.create_schema().await;
    batches(&client(), &server.base, &bare, corpus, "PostgreSQL", report).await;
    server.stop().await;
    bare.close().await;
}

/// Figure 5: the release binary's `tidings ingest` on a large NDJSON file.
async fn ingest_cli(options: &Options, corpus: &Corpus, work: &Path, report: &mut Report) {
    report.group("5. `tidings ingest` of a large NDJSON file (SQLite)");
    let dir = work.join("cli");
    std::fs::create_dir_all(&dir).expect("a folder");
    let target: u64 = (if options.large { 180 } else { 50 }) << 20;
    let file = dir.join("articles.ndjson");
    let mut text = String::with_capacity(target as usize + 8192);
    let mut articles = 0u64;
    while (text.len() as u64) < target {
        text.push_str(&corpus.article("f", articles).json);
        text.push('\n');
        articles += 1;
    }
    std::fs::write(&file, &text).expect("the file");
    drop(text);
    let file_mib = std::fs::metadata(&file).expect("the file").len() as f64 / (1 << 20) as f64;

    let db = dir.join("tidings.db");
    let time = Path::new("/usr/bin/time");
    let mut command = if time.exists() {
        let mut c = std::process::Command::new(time);
        c.arg("-v").arg(env!("CARGO_BIN_EXE_tidings"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
    };
    for key in inherited_settings() {
        command.env_remove(key);
    }
    command
        .args(["--config", "config/tidings.toml", "ingest"])
        .arg(&file)
        .current_dir(manifest_dir())
        .env("TIDINGS_DATABASE_URL", sqlite_url(&db))
        .env("TIDINGS_CATALOG_DIR", manifest_dir().join("feeds"))
        .env("TIDINGS_LOG", "warn")
        .stdout(std::fs::File::create(dir.join("stdout")).expect("a file"))
        .stderr(std::fs::File::create(dir.join("stderr")).expect("a file"));
    let start = Instant::now();
    let mut child = command.spawn().expect("tidings ingest starts");
    // Without /usr/bin/time: poll the peak (VmHWM) until the process ends.
    let pid = child.id().to_string();
    let mut polled_peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("a status") {
            break status;
        }
        polled_peak = polled_peak.max(proc_status_kib(&pid, "VmHWM:").unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seconds = start.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    assert!(
        status.success(),
        "tidings ingest failed: {stdout}\n{stderr}"
    );
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(polled_peak);
    let how = if time.exists() {
        "/usr/bin/time -v"
    } else {
        "VmHWM polled every 20 ms"
    };
    report.note(format!(
        "tidings ingest: {articles} articles in {file_mib:.0} MiB: {}; peak memory from {how}",
        stdout.trim()
    ));

    // Reference: read and parse the same file, and insert in chunks of the CLI's size.
    let bare = Bare::sqlite(&dir.join("bare.db")).await;
    bare.create_schema().await;
    let t = Instant::now();
    let text = std::fs::read_to_string(&file).expect("the file");
    let mut chunk = Vec::with_capacity(CLI_CHUNK);
    for line in text.lines() {
        let doc: Value = serde_json::from_str(line).expect("JSON");
        let published = DateTime::parse_from_rfc3339(doc["published"].as_str().expect("a time"))
            .expect("a time");
        chunk.push(Prepared::of(&Generated {
            id: doc["id"].as_str().expect("an id").to_owned(),
            section: doc["section"].as_str().expect("a section").to_owned(),
            published: published.with_timezone(&Utc),
            json: line.to_owned(),
        }));
        if chunk.len() == CLI_CHUNK {
            bare.insert_schema(&chunk).await;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        bare.insert_schema(&chunk).await;
    }
    let bare_seconds = t.elapsed().as_secs_f64();
    bare.close().await;
    report.add(
        &format!("tidings ingest of {file_mib:.0} MiB NDJSON, rate"),
        articles as f64 / seconds,
        articles as f64 / bare_seconds,
        "articles/s",
        &format!(
            "read, parse and bare inserts into tidings' schema, {CLI_CHUNK} per transaction, in process"
        ),
    );
    report.add(
        &format!("tidings ingest of {file_mib:.0} MiB NDJSON, peak resident memory"),
        peak_kib as f64 / 1024.0,
        file_mib,
        "MiB",
        "the size of the file",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Figure 6: one article to N webhook endpoints and to N WebSub subscribers.
async fn fan_out(options: &Options, corpus: &Corpus, work: &Path, report: &mut Report) {
    let n: usize = if options.large { 50_000 } else { 5_000 };
    report.group(&format!("6. Fan-out to {n} targets (SQLite)"));
    let dir = work.join("fan-out");
    std::fs::create_dir_all(&dir).expect("a folder");
    let server = start_server(&sqlite_url(&dir.join("tidings.db"))).await;
    let base = server.base.clone();
    let received = Arc::new(Received::default());
    let receiver = start_receiver(received.clone()).await;
    let client = client();

    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let request = client
                .post(format!("{base}/api/v1/webhooks"))
                .bearer_auth(TOKEN)
                .json(&json!({ "url": format!("{receiver}/hook/{i}"), "sections": ["zjhn"] }));
            async move {
                let response = request.send().await.expect("an answer");
                assert_eq!(response.status(), 201);
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    report.note(format!(
        "registered {n} webhook endpoints in {:.1} s",
        t.elapsed().as_secs_f64()
    ));

    let topic = format!("{base}/feeds/zwgk.atom");
    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("hub.mode", "subscribe")
                .append_pair("hub.topic", &topic)
                .append_pair("hub.callback", &format!("{receiver}/sub/{i}"))
                .append_pair("hub.lease_seconds", "864000")
                .finish();
            let client = &client;
            let base = &base;
            async move {
                loop {
                    let response = client
                        .post(format!("{base}/websub"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form.clone())
                        .send()
                        .await
                        .expect("an answer");
                    match response.status().as_u16() {
                        202 => return,
                        429 => tokio::time::sleep(Duration::from_millis(500)).await,
                        other => panic!("subscribe: {other}"),
                    }
                }
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    received
        .wait_for("verify", n, Duration::from_secs(900))
        .await;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        // The admin list comes in pages of at most 1000.
        let mut count = 0;
        let mut after = String::new();
        loop {
            let listed: Value = client
                .get(format!("{base}/api/v1/websub/subscriptions"))
                .query(&[
                    ("topic", topic.as_str()),
                    ("limit", "1000"),
                    ("after", &after),
                ])
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("an answer")
                .json()
                .await
                .expect("JSON");
            count += listed["subscriptions"].as_array().map_or(0, Vec::len);
            match listed["next"].as_str() {
                Some(next) => after = next.to_owned(),
                None => break,
            }
        }
        if count >= n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{count} of {n} subscriptions stored"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    report.note(format!(
        "subscribed and verified {n} WebSub callbacks in {:.1} s",
        t.elapsed().as_secs_f64()
    ));

    let pairs = if n <= 5_000 { PAIRS } else { 1 };
    let limit = Duration::from_secs(1800);
    for (kind, bare_kind, section, what) in [
        ("hook", "href", "zjhn/lyfw", "webhook endpoints"),
        ("sub", "sref", "zwgk/tzgg", "WebSub subscribers"),
    ] {
        let (mut rates, mut firsts, mut bare_rates, mut bare_firsts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut sending, mut bare_sending) = (Vec::new(), Vec::new());
        let mut body_len = 0;
        for pair in 0..pairs {
            let doc = corpus.article_in(&format!("fan-{kind}"), pair as u64, Some(section));
            let t0 = Instant::now();
            post_article(&client, &base, doc.json).await;
            let tally = received.wait_for(kind, n, limit).await;
            let (first, last) = span(&tally, t0);
            rates.push(n as f64 / last);
            firsts.push(first * 1e3);
            sending.push((n - 1) as f64 / (last - first));
            let body = tally.sample.expect("a body");
            body_len = body.len();

            let t0 = Instant::now();
            bare_send(&receiver, bare_kind, &body, n, BARE_CONCURRENCY).await;
            let tally = received.wait_for(bare_kind, n, limit).await;
            let (first, last) = span(&tally, t0);
            bare_rates.push(n as f64 / last);
            bare_firsts.push(first * 1e3);
            bare_sending.push((n - 1) as f64 / (last - first));
        }
        let reference_is = format!(
            "a bare reqwest client POSTing the same {body_len}-byte body to the same receiver, {BARE_CONCURRENCY} at a time"
        );
        report.add(
            &format!("fan-out of one article to {n} {what}, rate"),
            median(&rates),
            median(&bare_rates),
            "deliveries/s",
            &reference_is,
        );
        report.add(
            &format!(
                "fan-out of one article to {n} {what}, rate from the first arrival to the last"
            ),
            median(&sending),
            median(&bare_sending),
            "deliveries/s",
            &reference_is,
        );
        report.add(
            &format!("fan-out of one article to {n} {what}, publish → first arrival"),
            median(&firsts),
            median(&bare_firsts),
            "ms",
            &reference_is,
        );
    }
    report.note(
        "WebSub notifications wait for the coalescing window (websub.coalesce_window_ms, 1 s by default) before they are sent: it is part of the first arrival".into(),
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seconds from `t0` to the first and the last arrival.
fn span(tally: &Tally, t0: Instant) -> (f64, f64) {
    let first = tally.arrivals.iter().min().expect("arrivals");
    let last = tally.arrivals.iter().max().expect("arrivals");
    (
        first.duration_since(t0).as_secs_f64(),
        last.duration_since(t0).as_secs_f64(),
    )
}

/// Figure 7: publish → arrival at 10 endpoints, one publish at a time on an idle server.
async fn latency(corpus: &Corpus, work: &Path, report: &mut Report) {
    report.group("7. Publish → webhook arrival latency (SQLite)");
    let dir = work.join("latency");
    std::fs::create_dir_all(&dir).expect("a folder");
    let server = start_server(&sqlite_url(&dir.join("tidings.db"))).await;
    let received = Arc::new(Received::default());
    let receiver = start_receiver(received.clone()).await;
    let client = client();
    for i in 0..LATENCY_ENDPOINTS {
        let response = client
            .post(format!("{}/api/v1/webhooks", server.base))
            .bearer_auth(TOKEN)
            .json(&json!({ "url": format!("{receiver}/lat/{i}") }))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 201);
    }
    let bare_client = reqwest::Client::new();
    let (mut measured, mut reference) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < LATENCY_ROUNDS && started.elapsed() < LATENCY_BUDGET {
        let doc = corpus.article("lat", rounds as u64);
        let t0 = Instant::now();
        post_article(&client, &server.base, doc.json).await;
        let tally = received
            .wait_for("lat", LATENCY_ENDPOINTS, Duration::from_secs(60))
            .await;
        measured.extend(tally.arrivals.iter().map(|a| ms(a.duration_since(t0))));
        let body = tally.sample.expect("a body");

        let t0 = Instant::now();
        futures::future::join_all((0..LATENCY_ENDPOINTS).map(|i| {
            bare_client
                .post(format!("{receiver}/lref/{i}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        }))
        .await;
        let tally = received
            .wait_for("lref", LATENCY_ENDPOINTS, Duration::from_secs(60))
            .await;
        reference.extend(tally.arrivals.iter().map(|a| ms(a.duration_since(t0))));
        rounds += 1;
    }
    let reference_is =
        format!("{LATENCY_ENDPOINTS} concurrent bare POSTs of the same body to the same receiver");
    for p in [50.0, 99.0] {
        report.add(
            &format!(
                "publish → arrival at {LATENCY_ENDPOINTS} webhook endpoints, p{p:.0} ({rounds} publishes)"
            ),
            percentile(&measured, p),
            percentile(&reference, p),
            "ms",
            &reference_is,
        );
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
