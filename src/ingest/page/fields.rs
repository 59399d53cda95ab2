//! What both forms share: the labelled lines (来源：… 发布时间：…), breadcrumbs and dates as
//! pages write them.

use chrono::{NaiveDate, NaiveTime};

/// A field of the visible article header or footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Source,
    Published,
    Editor,
    Author,
    /// A label that only ends the value before it (浏览次数：…).
    Other,
}

/// Labels, with whether each is a strong sign of its field (`时间` and `编辑` alone also label
/// other things, so they count only when no strong label is found). At one position the
/// longest label is tried first: 发布时间 before 时间.
const LABELS: [(&str, Field, bool); 20] = [
    ("发布时间", Field::Published, true),
    ("发布日期", Field::Published, true),
    ("发表时间", Field::Published, true),
    ("发文日期", Field::Published, true),
    ("责任编辑", Field::Editor, true),
    ("浏览次数", Field::Other, true),
    ("点击次数", Field::Other, true),
    ("阅读次数", Field::Other, true),
    ("来源", Field::Source, true),
    ("稿源", Field::Source, true),
    ("作者", Field::Author, true),
    ("时间", Field::Published, false),
    ("日期", Field::Published, false),
    ("编辑", Field::Editor, false),
    ("浏览", Field::Other, true),
    ("点击", Field::Other, true),
    ("阅读", Field::Other, true),
    ("访问量", Field::Other, true),
    ("字号", Field::Other, true),
    ("分享", Field::Other, true),
];

/// One labelled value: `来源:黄南报` gives (Source, strong, "黄南报").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Labelled {
    /// Where the label starts in the line.
    pub at: usize,
    pub field: Field,
    pub is_strong: bool,
    pub value: String,
}

/// The labelled values of one line, in order. A value runs from its label's colon (`:` or
/// `：`) to the next label, a closing `]` or `】`, a run of two or more spaces of any kind
/// (no-break and ideographic included), or the end of the line; it is trimmed, and may be
/// empty (`[责任编辑:]`).
pub(super) fn labelled(line: &str) -> Vec<Labelled> {
    // (field, strong, label start, value start)
    let mut marks: Vec<(Field, bool, usize, usize)> = Vec::new();
    let mut at = 0;
    while at < line.len() {
        let rest = &line[at..];
        let hit = LABELS.iter().find_map(|(label, field, strong)| {
            let after = rest.strip_prefix(label)?;
            let after = after.trim_start_matches([' ', '\u{a0}', '\u{3000}']);
            let value = after
                .strip_prefix(':')
                .or_else(|| after.strip_prefix('：'))?;
            Some((*field, *strong, line.len() - value.len()))
        });
        match hit {
            Some((field, strong, value_at)) => {
                marks.push((field, strong, at, value_at));
                at = value_at;
            }
            None => at += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    let mut out = Vec::new();
    for (i, (field, is_strong, at, value_at)) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map_or(line.len(), |next| next.2);
        let value = cut_value(&line[*value_at..end]);
        out.push(Labelled {
            at: *at,
            field: *field,
            is_strong: *is_strong,
            value: value.to_owned(),
        });
    }
    out
}

fn cut_value(raw: &str) -> &str {
    let raw = raw.trim_start();
    let mut end = raw.len();
    if let Some(close) = raw.find([']', '】']) {
        end = close;
    }
    let mut spaces = 0;
    for (i, c) in raw[..end].char_indices() {
        if c.is_whitespace() {
            spaces += 1;
            if spaces == 2 {
                end = i;
                break;
            }
        } else {
            spaces = 0;
        }
    }
    raw[..end].trim().trim_start_matches(['[', '【']).trim()
}

/// Whether a line consists of labelled fields only (after brackets): a header or footer line,
/// not a paragraph.
pub(super) fn is_field_line(line: &str) -> bool {
    let trimmed = line
        .trim()
        .trim_start_matches(['[', '【', '(', '（'])
        .trim_start();
    labelled(trimmed)
        .first()
        .is_some_and(|first| first.at == 0 && first.field != Field::Other)
}

/// The values of `field` over all lines: those of strong labels first, then the others, each
/// in page order.
pub(super) fn values_of<'a>(
    found: &'a [Labelled],
    field: Field,
) -> impl Iterator<Item = &'a str> + 'a {
    let strong = found
        .iter()
        .filter(move |l| l.field == field && l.is_strong);
    let weak = found
        .iter()
        .filter(move |l| l.field == field && !l.is_strong);
    strong.chain(weak).map(|l| l.value.as_str())
}

/// Whether text starts with a "you are here" label: 当前位置, 您现在的位置, 所在位置 ….
pub(super) fn starts_with_location_label(text: &str) -> bool {
    location_label_end(text.trim_start()).is_some()
}

/// Where the label ends (after 位置, an optional 是), if the text starts with one.
fn location_label_end(text: &str) -> Option<usize> {
    const WORDS: &str = "您你现在当前目的所";
    let at = text.find("位置")?;
    let prefix = &text[..at];
    if prefix.chars().count() > 6 || !prefix.chars().all(|c| WORDS.contains(c)) {
        return None;
    }
    let end = at + "位置".len();
    Some(
        end + text[end..]
            .strip_prefix('是')
            .map_or(0, |_| '是'.len_utf8()),
    )
}

/// What marks one crumb off from the next in a breadcrumb's text. The HTML reader also puts
/// it at every element's edge, so that links separate crumbs.
pub(super) const CRUMB_EDGE: char = '\u{1}';

/// A breadcrumb's titles from its text: the location label and its colon removed, split on
/// `>` `＞` `/` `／` `»` `›` `→` and `&gt;` (escaped twice on some pages), trimmed, empty ones
/// and a trailing 正文 dropped.
pub(super) fn breadcrumb(text: &str) -> Vec<String> {
    let text = text.replace("&gt;", ">");
    let mut crumbs: Vec<&str> = text
        .split(|c: char| {
            c == CRUMB_EDGE || matches!(c, '>' | '＞' | '/' | '／' | '»' | '›' | '→' | '〉')
        })
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(first) = crumbs.first().copied()
        && let Some(end) = location_label_end(first)
    {
        let rest = first[end..]
            .trim_start()
            .trim_start_matches([':', '：'])
            .trim();
        if rest.is_empty() {
            crumbs.remove(0);
        } else {
            crumbs[0] = rest;
        }
    }
    // A label split from its colon by an element edge: 当前位置 | ： | 首页.
    while crumbs
        .first()
        .is_some_and(|c| c.trim_matches([':', '：']).is_empty())
    {
        crumbs.remove(0);
    }
    if crumbs.last().is_some_and(|c| *c == "正文") {
        crumbs.pop();
    }
    crumbs.into_iter().map(super::squash).collect()
}

/// A date or time as pages write it, in a form `parse_time` reads: `YYYY-MM-DD`,
/// `YYYY-MM-DDTHH:MM:SS`, or that with an offset. Dates may use `-`, `/`, `.` or 年月日, need
/// not pad, and may be followed by a time after a space, `T` or `-` (TRS's
/// `firstpublishedtime`: `2021-06-01-09:30:00`); whatever follows (星期二, a label) is ignored.
pub(super) fn normalize_date(raw: &str) -> Option<String> {
    let mut s = Scanner(raw.trim());
    let year = s.number(4, 4)?;
    s.one_of(&['-', '/', '.', '年'])?;
    let month = s.number(1, 2)?;
    s.one_of(&['-', '/', '.', '月'])?;
    let day = s.number(1, 2)?;
    s.one_of(&['日']);
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let date_only = date.format("%Y-%m-%d").to_string();

    let mut t = Scanner(s.0);
    let separator = t.one_of(&['T', '-']);
    if separator.is_none() && t.spaces() == 0 {
        return Some(date_only);
    }
    let Some(time) = t.time() else {
        return Some(date_only);
    };
    let mut out = format!("{date_only}T{}", time.format("%H:%M:%S"));
    // An offset only in the ISO form, written right after the time: elsewhere `10:00-11:00`
    // is a span of time, not an offset.
    if separator == Some('T') {
        if t.one_of(&['Z']).is_some() {
            out.push_str("+00:00");
        } else if let Some(sign) = t.one_of(&['+', '-']) {
            let hours = t.number(2, 2);
            t.one_of(&[':']);
            let minutes = t.number(2, 2);
            if let (Some(h), Some(m)) = (hours, minutes)
                && h < 24
                && m < 60
            {
                out.push_str(&format!("{sign}{h:02}:{m:02}"));
            }
        }
    }
    Some(out)
}

/// A cursor over the start of a string.
struct Scanner<'a>(&'a str);

impl Scanner<'_> {
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let len = self.0.chars().take_while(char::is_ascii_digit).count();
        if len < min || len > max {
            return None;
        }
        let value = self.0[..len].parse().ok()?;
        self.0 = &self.0[len..];
        Some(value)
    }

    fn one_of(&mut self, chars: &[char]) -> Option<char> {
        let c = self.0.chars().next().filter(|c| chars.contains(c))?;
        self.0 = &self.0[c.len_utf8()..];
        Some(c)
    }

    fn spaces(&mut self) -> usize {
        let rest = self.0.trim_start();
        let skipped = self.0.len() - rest.len();
        self.0 = rest;
        skipped
    }

    /// `9:30`, `09:30:00`, `09：30`, with an ignored fraction of a second.
    fn time(&mut self) -> Option<NaiveTime> {
        let hours = self.number(1, 2)?;
        self.one_of(&[':', '：'])?;
        let minutes = self.number(2, 2)?;
        let mut seconds = 0;
        let before = self.0;
        if self.one_of(&[':', '：']).is_some() {
            match self.number(2, 2) {
                Some(s) => seconds = s,
                None => self.0 = before,
            }
        }
        if self.one_of(&['.']).is_some() {
            self.number(1, 9);
        }
        NaiveTime::from_hms_opt(hours, minutes, seconds.min(59))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_values_end_at_the_next_label_spaces_or_brackets() {
        let line = "来源:黄南报\u{a0} \u{a0} \u{a0} 发布时间:2021-06-01\u{a0} \u{a0} ";
        let found = labelled(line);
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].field, found[0].value.as_str()),
            (Field::Source, "黄南报")
        );
        assert_eq!(
            (found[1].field, found[1].value.as_str()),
            (Field::Published, "2021-06-01")
        );
        let found = labelled("来源:黄南报 发布时间：2021-06-01 10:00 浏览次数：12");
        assert_eq!(found[0].value, "黄南报");
        assert_eq!(found[1].value, "2021-06-01 10:00");
        assert_eq!(labelled("【来源:新华社】")[0].value, "新华社");
        assert_eq!(labelled("[责任编辑:张三]")[0].value, "张三");
        assert_eq!(labelled("[责任编辑:]")[0].value, "");
        assert_eq!(labelled("责任编辑：张三")[0].field, Field::Editor);
        assert!(labelled("5月31日,黄南州召开会议").is_empty());
    }

    #[test]
    fn field_lines_start_with_a_label() {
        assert!(is_field_line("[责任编辑:]"));
        assert!(is_field_line("来源:黄南报    发布时间:2021-06-01"));
        assert!(!is_field_line("会议强调，时间：六月"));
        assert!(!is_field_line("时间过得真快，发布时间：六月"));
    }

    #[test]
    fn breadcrumbs_lose_their_label_and_separators() {
        let want = ["首页", "黄南要闻", "领导动态"];
        for text in [
            "现在的位置:首页\u{a0}/\u{a0} 黄南要闻\u{a0}/\u{a0} 领导动态",
            "当前位置：首页 > 黄南要闻 > 领导动态 > 正文",
            "您现在的位置是： 首页 &gt; 黄南要闻 &gt; 领导动态",
            "\u{1}当前位置\u{1}：\u{1}首页\u{1}\u{1}黄南要闻\u{1} » \u{1}领导动态\u{1}",
            "首页\u{3000}→\u{3000}黄南要闻 → 领导动态",
        ] {
            assert_eq!(breadcrumb(text), want, "{text:?}");
        }
        assert!(starts_with_location_label(" 您的位置：首页"));
        assert!(!starts_with_location_label("会议的位置在西宁"));
    }

    #[test]
    fn dates_are_normalised() {
        for (raw, want) in [
            ("2021-06-01", "2021-06-01"),
            ("2021-06-01    ", "2021-06-01"),
            ("2021-06-01 09:30", "2021-06-01T09:30:00"),
            ("2021-06-01 09:30:15", "2021-06-01T09:30:15"),
            ("2021-06-01-09:30:00", "2021-06-01T09:30:00"),
            ("2021/6/1 9:30", "2021-06-01T09:30:00"),
            ("2021年6月1日 星期二", "2021-06-01"),
            ("2021.06.01", "2021-06-01"),
            ("2021-06-01T09:30:00+08:00", "2021-06-01T09:30:00+08:00"),
            ("2021-06-01T01:30:00Z", "2021-06-01T01:30:00+00:00"),
            ("2021-06-01 09:30 浏览", "2021-06-01T09:30:00"),
            ("2021-06-01 10:00-11:00", "2021-06-01T10:00:00"),
        ] {
            assert_eq!(normalize_date(raw).as_deref(), Some(want), "{raw}");
            let zone = chrono_tz::Asia::Shanghai;
            assert!(crate::ingest::parse_time(want, zone).is_ok(), "{want}");
        }
        for raw in ["", "昨天", "2021-13-01", "21-06-01", "2021-02-30"] {
            assert_eq!(normalize_date(raw), None, "{raw}");
        }
    }
}
