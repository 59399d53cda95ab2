//! The text form of a page, as a reader sees it:
//!
//! ```text
//! 现在的位置:首页 / 黄南要闻 / 领导动态
//!
//! 黄南:切实担负起做好双拥工作的重大政治责任 …
//!
//! 来源:黄南报    发布时间:2021-06-01
//!
//! 5月31日,黄南州召开 …
//!
//! 1622509259278633.png
//!
//! [责任编辑:]
//! ```
//!
//! The breadcrumb and labelled lines may come before the title; labelled lines right after
//! the title form its header and the last lines its footer. Everything between is the body:
//! each line a paragraph, or an image when it is an image's file name or URL.

use url::Url;

use super::fields::{self, Field, Labelled};
use super::{Found, FoundImage, PageError, PageRules, published, resolve, split_list, squash};

const IMAGE_EXTENSIONS: [&str; 6] = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"];

/// Reads the text form. It has no URL of its own, so `url` is required; image names resolve
/// against `rules.image_base`, else against `url`.
pub(super) fn read(text: &str, url: Option<&Url>, rules: &PageRules) -> Result<Found, PageError> {
    let Some(url) = url else {
        return Err(PageError::NoUrl);
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();

    let mut labelled: Vec<Labelled> = Vec::new();
    let mut breadcrumb = Vec::new();
    let mut at = 0;
    while let Some(line) = lines.get(at) {
        if breadcrumb.is_empty() && fields::starts_with_location_label(line) {
            breadcrumb = fields::breadcrumb(line);
        } else if fields::is_field_line(line) {
            labelled.extend(fields::labelled(line));
        } else {
            break;
        }
        at += 1;
    }
    let title = lines.get(at).map(|l| squash(l)).ok_or(PageError::NoTitle)?;
    at += 1;
    while let Some(line) = lines.get(at).filter(|l| fields::is_field_line(l)) {
        labelled.extend(fields::labelled(line));
        at += 1;
    }
    let mut end = lines.len();
    let mut footer = Vec::new();
    while end > at && fields::is_field_line(lines[end - 1]) {
        end -= 1;
        footer.push(lines[end]);
    }
    for line in footer.iter().rev() {
        labelled.extend(fields::labelled(line));
    }

    let image_base = rules.image_base.as_ref().unwrap_or(url);
    let mut content_html = String::new();
    let mut images = Vec::new();
    for line in &lines[at..end] {
        match image_of(line, image_base) {
            Some(image) => {
                content_html.push_str(&format!(
                    "<p><img src=\"{}\"></p>",
                    html_escape::encode_double_quoted_attribute(image.as_str())
                ));
                images.push(FoundImage {
                    url: image,
                    caption: None,
                });
            }
            None => {
                content_html.push_str(&format!("<p>{}</p>", html_escape::encode_text(line)));
            }
        }
    }

    let first = |field: Field| {
        fields::values_of(&labelled, field)
            .map(squash)
            .find(|v| !v.is_empty())
    };
    Ok(Found {
        url: url.clone(),
        title,
        breadcrumb,
        source: first(Field::Source),
        editor: first(Field::Editor),
        authors: fields::values_of(&labelled, Field::Author)
            .flat_map(|v| split_list(v, super::MAX_NAME_CHARS))
            .collect(),
        published: published(fields::values_of(&labelled, Field::Published))?,
        content_html,
        images,
        tags: Vec::new(),
        summary: None,
    })
}

/// The image a line names: a file name or URL ending in an image extension, with no spaces.
fn image_of(line: &str, base: &Url) -> Option<Url> {
    let lower = line.to_ascii_lowercase();
    let is_image = IMAGE_EXTENSIONS.iter().any(|e| lower.ends_with(e))
        && line.len() <= 1000
        && !line.contains(char::is_whitespace)
        && (lower.starts_with("http://")
            || lower.starts_with("https://")
            || line.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~' | '/' | '%')
            }));
    if is_image {
        resolve(line, Some(base))
    } else {
        None
    }
}
