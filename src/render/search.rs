//! The page of a search's results (`/search?q=…`): the search box, what was found, and the
//! articles, listed as on the sections' pages.

use maud::{DOCTYPE, PreEscaped, html};

use super::listing::{ICON, ListContext, STYLE, article_list, search_form};
use super::words::Labels;
use crate::catalog::{Catalog, Scope};
use crate::domain::{SearchQuery, StoredArticle};

/// Renders the results of `query`, newest first; `more` says that older articles match too.
///
/// `base` is the service's absolute base URL without a trailing slash.
pub fn render_search_page(
    catalog: &Catalog,
    base: &str,
    query: &SearchQuery,
    results: &[StoredArticle],
    more: bool,
) -> String {
    let site = &catalog.site;
    let labels = Labels::for_language(&site.language);
    let heading = labels.search_title(query.as_str());
    let list = ListContext {
        catalog,
        base,
        labels: &labels,
        language: &site.language,
        scope: &Scope::All,
    };
    html! {
        (DOCTYPE)
        html lang=(site.language) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Results are not pages of their own for search engines.
                meta name="robots" content="noindex";
                title { (heading) " - " (site.title) }
                link rel="icon" href=(ICON);
                style { (PreEscaped(STYLE)) }
            }
            body {
                div.page {
                    nav.crumbs aria-label=(labels.breadcrumb) {
                        ol {
                            li { a href={ (base) "/" } { (site.title) } }
                            li aria-current="page" { (labels.search) }
                        }
                    }
                    h1 { (heading) }
                    (search_form(base, &labels, query.as_str()))
                    main {
                        p.note.found { (labels.found(results.len(), more)) }
                        @if !results.is_empty() {
                            (article_list(&list, results))
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::*;
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080";

    #[test]
    fn results_are_listed_under_the_filled_search_box() {
        let query = SearchQuery::parse("乡村 \"振兴\" <x>").unwrap();
        let html = render_search_page(&catalog(), BASE, &query, &[leader_article()], false);
        assert!(html.contains(
            "<title>搜索：乡村 &quot;振兴&quot; &lt;x&gt; - 黄南藏族自治州人民政府</title>"
        ));
        assert!(html.contains(
            "<form class=\"search\" role=\"search\" method=\"get\" action=\"http://127.0.0.1:8080/search\">"
        ));
        assert!(html.contains("value=\"乡村 &quot;振兴&quot; &lt;x&gt;\""));
        assert!(html.contains("<p class=\"note found\">找到 1 篇。</p>"));
        assert!(html.contains("<ol class=\"articles\"><li><h3>"));
        assert!(html.contains("2021-06-01 00:00 +08:00"));
    }

    #[test]
    fn nothing_found_and_more_than_shown_say_so() {
        let query = SearchQuery::parse("无").unwrap();
        let html = render_search_page(&catalog(), BASE, &query, &[], false);
        assert!(html.contains("没有找到相关文章。"));
        assert!(!html.contains("<ol class=\"articles\""));
        let html = render_search_page(&catalog(), BASE, &query, &[leader_article()], true);
        assert!(html.contains("找到超过 1 篇，仅显示最新的 1 篇。"));
    }
}
