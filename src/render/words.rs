//! The pages' own words, in Chinese for a Chinese site or section and in English otherwise.

use crate::domain::FeedFormat;

/// Every fixed text of the HTML pages, in one language.
pub(super) struct Labels {
    pub chinese: bool,
    pub whole_site: &'static str,
    pub sections: &'static str,
    pub subsections: &'static str,
    pub opml: &'static str,
    pub home: &'static str,
    pub breadcrumb: &'static str,
    pub latest: &'static str,
    pub latest_site: &'static str,
    pub more: &'static str,
    pub no_articles: &'static str,
    pub subscribe: &'static str,
    /// What a feed is and how to subscribe, in one line.
    pub what_is_a_feed: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    /// When the browser would not copy: the address is selected for the reader to copy.
    pub selected: &'static str,
    /// This and the next two end with their colon.
    pub developers: &'static str,
    pub source: &'static str,
    pub editor: &'static str,
    pub websub_hint: &'static str,
    pub search: &'static str,
    pub search_placeholder: &'static str,
    pub no_results: &'static str,
    /// The live notice of a scope's page: what came (ending with its colon), and how to see it.
    pub new_article: &'static str,
    pub reload: &'static str,
    /// The heading of the sources' table on the index, and its columns.
    pub sources: &'static str,
    pub tags: &'static str,
    /// After a tag: how many articles carry it.
    pub tag_count: &'static str,
    pub source_columns: [&'static str; 7],
}

impl Labels {
    /// The words for a page in `language` (BCP 47): Chinese for `zh` and its subtags.
    pub fn for_language(language: &str) -> Self {
        if is_chinese(language) {
            Self::CHINESE
        } else {
            Self::ENGLISH
        }
    }

    const CHINESE: Self = Self {
        chinese: true,
        whole_site: "全站",
        sections: "栏目",
        subsections: "下级栏目",
        opml: "全部订阅（OPML）",
        home: "网站首页",
        breadcrumb: "当前位置",
        latest: "最新文章",
        latest_site: "全站最新文章",
        more: "查看更多",
        no_articles: "暂无文章。",
        subscribe: "订阅",
        what_is_a_feed: "订阅源（RSS）让你不必反复访问网站：把下面任一地址复制到 RSS \
                         阅读器或新闻应用中，本栏目一有新文章就会自动送达。",
        copy: "复制",
        copied: "已复制",
        selected: "已选中，请手动复制",
        developers: "开发者：",
        websub_hint: "每个订阅源都是 WebSub 主题：向下面的 hub 订阅，文章发布、更新或删除时即可\
                      收到推送，无需轮询。",
        source: "来源：",
        editor: "责任编辑：",
        search: "搜索",
        search_placeholder: "搜索标题和摘要",
        no_results: "没有找到相关文章。",
        new_article: "有新文章：",
        reload: "刷新页面",
        sources: "采集来源",
        tags: "标签",
        tag_count: "篇",
        source_columns: [
            "名称",
            "地址",
            "上次抓取",
            "结果",
            "已采集文章",
            "下次运行",
            "WebSub 订阅",
        ],
    };

    const ENGLISH: Self = Self {
        chinese: false,
        whole_site: "All sections",
        sections: "Sections",
        subsections: "Subsections",
        opml: "All feeds (OPML)",
        home: "Website",
        breadcrumb: "Breadcrumb",
        latest: "Latest articles",
        latest_site: "Latest across the site",
        more: "More",
        no_articles: "No articles yet.",
        subscribe: "Subscribe",
        what_is_a_feed: "A feed lets you follow this section without coming back to check: \
                         copy one of these addresses into a feed reader or news app, and new \
                         articles reach you there.",
        copy: "Copy",
        copied: "Copied",
        selected: "Selected: copy it by hand",
        developers: "For developers: ",
        websub_hint: "Every feed is a WebSub topic: subscribe at this hub to be pushed each \
                      article published, changed or deleted, instead of polling.",
        source: "Source: ",
        editor: "Editor: ",
        search: "Search",
        search_placeholder: "Search titles and summaries",
        no_results: "Nothing found.",
        new_article: "New article: ",
        reload: "Reload the page",
        sources: "Sources",
        tags: "Tags",
        tag_count: "articles",
        source_columns: [
            "Name",
            "Address",
            "Last fetch",
            "Outcome",
            "Articles taken",
            "Next run",
            "WebSub subscription",
        ],
    };

    /// A topic's WebSub subscriber count, shown after its link.
    pub fn subscribers(&self, count: u64) -> String {
        match (self.chinese, count) {
            (true, n) => format!("（{n} 个订阅）"),
            (false, 1) => "(1 subscriber)".to_owned(),
            (false, n) => format!("({n} subscribers)"),
        }
    }

    pub fn subscribers_title(&self) -> &'static str {
        if self.chinese {
            "WebSub 订阅者数量"
        } else {
            "WebSub subscribers of this feed"
        }
    }

    pub fn articles(&self, count: u64) -> String {
        match (self.chinese, count) {
            (true, n) => format!("{n} 篇文章"),
            (false, 1) => "1 article".to_owned(),
            (false, n) => format!("{n} articles"),
        }
    }

    /// The accessible name of a feed's Copy button.
    pub fn copy_address(&self, format: FeedFormat) -> String {
        if self.chinese {
            format!("复制 {} 订阅地址", format.label())
        } else {
            format!("Copy the {} address", format.label())
        }
    }

    /// What a search found: `count` articles shown, and with `more`, others older than them.
    pub fn found(&self, count: usize, more: bool) -> String {
        match (self.chinese, count, more) {
            (_, 0, _) => self.no_results.to_owned(),
            (true, n, false) => format!("找到 {n} 篇。"),
            (true, n, true) => format!("找到超过 {n} 篇，仅显示最新的 {n} 篇。"),
            (false, 1, false) => "1 article found.".to_owned(),
            (false, n, false) => format!("{n} articles found."),
            (false, n, true) => format!("More than {n} found; showing the newest {n}."),
        }
    }

    /// The title of a search's page.
    pub fn search_title(&self, query: &str) -> String {
        if self.chinese {
            format!("搜索：{query}")
        } else {
            format!("Search: {query}")
        }
    }
}

/// `zh`, or `zh-` and any subtags (`zh-CN`, `zh-Hans-CN`); not another language whose code
/// starts with the same letters (`zha`).
fn is_chinese(language: &str) -> bool {
    language
        .get(..2)
        .is_some_and(|l| l.eq_ignore_ascii_case("zh"))
        && language.get(2..3).is_none_or(|sep| sep == "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_zh_and_its_subtags_only() {
        assert!(Labels::for_language("zh").chinese);
        assert!(Labels::for_language("zh-Hans-CN").chinese);
        assert!(Labels::for_language("ZH-cn").chinese);
        assert!(!Labels::for_language("zha").chinese);
        assert!(!Labels::for_language("en-GB").chinese);
        assert!(!Labels::for_language("").chinese);
    }

    #[test]
    fn counts_read_naturally() {
        let zh = Labels::for_language("zh-CN");
        let en = Labels::for_language("en");
        assert_eq!(zh.found(3, false), "找到 3 篇。");
        assert_eq!(zh.found(50, true), "找到超过 50 篇，仅显示最新的 50 篇。");
        assert_eq!(zh.found(0, false), "没有找到相关文章。");
        assert_eq!(en.found(1, false), "1 article found.");
        assert_eq!(
            en.found(50, true),
            "More than 50 found; showing the newest 50."
        );
        assert_eq!(en.articles(1), "1 article");
        assert_eq!(zh.subscribers(2), "（2 个订阅）");
    }
}
