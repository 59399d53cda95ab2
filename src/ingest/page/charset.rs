//! Bytes → text: refusing what is not a page, finding the encoding, telling the two forms apart.

use encoding_rs::{Encoding, GB18030, UTF_8};

use super::{PageError, PageInput};

/// How far into a page its `<meta charset>` is looked for. The HTML standard's prescan reads
/// 1024 bytes; CMS templates often put a long comment or script first, so more is read.
const META_PRESCAN_BYTES: usize = 4096;
/// How far into the bytes NUL bytes mark a binary file, and tags mark HTML.
const SNIFF_BYTES: usize = 8192;

/// A page as text.
#[derive(Debug)]
pub(super) struct Decoded {
    pub text: String,
    /// The page's text form (plain text), not HTML.
    pub is_text_form: bool,
}

/// Decodes a page: a byte order mark first (the HTML standard lets it override the transport,
/// since it cannot be there by accident), then the `Content-Type` charset, then a
/// `<meta charset>` or `<meta http-equiv="Content-Type">` near the start, else UTF-8.
///
/// Two repairs for what portals really send: bytes that are not what their declaration says
/// but are valid UTF-8 are read as UTF-8 (a page migrated to UTF-8 with its old `gb2312` meta),
/// and undeclared bytes that are not UTF-8 are read as GB18030, the superset of GBK and GB2312.
/// A declared charset nobody knows is refused rather than guessed.
pub(super) fn decode(input: &PageInput<'_>) -> Result<Decoded, PageError> {
    let bytes = input.bytes;
    if bytes.is_empty() {
        return Err(PageError::Empty);
    }
    let (media_type, http_charset) = input
        .content_type
        .map(parse_content_type)
        .unwrap_or_default();
    if is_binary_type(&media_type) {
        return Err(PageError::Binary { kind: media_type });
    }
    let bom = Encoding::for_bom(bytes);
    if bom.is_none() {
        refuse_binary(bytes, http_charset.as_deref())?;
    }

    let text = match bom {
        Some((encoding, bom_len)) => encoding.decode_without_bom_handling(&bytes[bom_len..]).0,
        None => match (http_charset, meta_charset(bytes)) {
            (Some(label), _) => decode_declared(bytes, known_encoding(&label)?),
            // HTML standard: a page that says UTF-16 in ASCII bytes is not UTF-16.
            (None, Some(label)) => {
                decode_declared(bytes, known_encoding(&label)?.output_encoding())
            }
            (None, None) => match std::str::from_utf8(bytes) {
                Ok(utf8) => utf8.into(),
                Err(_) => GB18030.decode_without_bom_handling(bytes).0,
            },
        },
    };
    let text = text.into_owned();
    let is_text_form = media_type == "text/plain" || !looks_like_html(&text);
    Ok(Decoded { text, is_text_form })
}

/// Bytes in their declared encoding; malformed sequences become U+FFFD (one bad byte should
/// not lose an article), unless the bytes are valid UTF-8 that the declaration got wrong.
fn decode_declared<'a>(bytes: &'a [u8], encoding: &'static Encoding) -> std::borrow::Cow<'a, str> {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    match std::str::from_utf8(bytes) {
        Ok(utf8) if had_errors && encoding != UTF_8 => utf8.into(),
        _ => text,
    }
}

/// The media type (lowercase, without parameters) and the `charset` parameter.
fn parse_content_type(raw: &str) -> (String, Option<String>) {
    let mut parts = raw.split(';');
    let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).to_owned())
            .filter(|v| !v.is_empty())
    });
    (media_type, charset)
}

/// Types that are never a page. `application/octet-stream` is not among them: servers send it
/// for anything, so the bytes decide.
fn is_binary_type(media_type: &str) -> bool {
    ["image/", "audio/", "video/", "font/"]
        .iter()
        .any(|p| media_type.starts_with(p))
        || matches!(
            media_type,
            "application/pdf"
                | "application/zip"
                | "application/gzip"
                | "application/msword"
                | "application/vnd.ms-excel"
                | "application/x-rar-compressed"
        )
        || media_type.starts_with("application/vnd.openxmlformats")
}

/// Refuses files that announce themselves by their first bytes, and any with NUL bytes near
/// the start (which no page in an ASCII-compatible encoding has).
fn refuse_binary(bytes: &[u8], http_charset: Option<&str>) -> Result<(), PageError> {
    const MAGIC: [(&[u8], &str); 8] = [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Err(PageError::Binary {
            kind: (*kind).to_owned(),
        });
    }
    if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Err(PageError::Binary {
            kind: "image/webp".to_owned(),
        });
    }
    let is_utf16 = http_charset.is_some_and(|c| c.to_ascii_lowercase().starts_with("utf-16"));
    if !is_utf16 && memchr::memchr(0, &bytes[..bytes.len().min(SNIFF_BYTES)]).is_some() {
        return Err(PageError::Binary {
            kind: "it holds NUL bytes".to_owned(),
        });
    }
    Ok(())
}

/// The encoding a label names (`gb2312` and `gbk` are GBK, a superset; `gb18030`), or the
/// error that names the unknown label.
fn known_encoding(label: &str) -> Result<&'static Encoding, PageError> {
    match Encoding::for_label(label.trim().as_bytes()) {
        Some(encoding) => Ok(encoding),
        None => Err(PageError::UnknownCharset {
            label: label.chars().take(40).collect(),
        }),
    }
}

/// The charset a `<meta>` near the start declares: `<meta charset="gbk">` or
/// `<meta http-equiv="Content-Type" content="text/html; charset=gb2312">`.
fn meta_charset(bytes: &[u8]) -> Option<String> {
    // Legacy multi-byte encodings keep ASCII bytes as ASCII, so the prescan reads bytes.
    let head = bytes[..bytes.len().min(META_PRESCAN_BYTES)].to_ascii_lowercase();
    let mut rest: &[u8] = &head;
    while let Some(start) = memchr::memmem::find(rest, b"<meta") {
        let tag = &rest[start..];
        let end = memchr::memchr(b'>', tag).unwrap_or(tag.len());
        if let Some(label) = charset_in_tag(&tag[..end]) {
            return Some(label);
        }
        rest = &tag[end..];
    }
    None
}

fn charset_in_tag(tag: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(tag, b"charset")?;
    let mut rest = &tag[at + b"charset".len()..];
    rest = rest.trim_ascii_start();
    rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    rest = rest.strip_prefix(b"\"").unwrap_or(rest);
    rest = rest.strip_prefix(b"'").unwrap_or(rest);
    let label: String = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        .map(|b| char::from(*b))
        .collect();
    (!label.is_empty()).then_some(label)
}

/// Whether the text starts like HTML: one of the tags a page opens with, near the start.
/// The text form has none.
fn looks_like_html(text: &str) -> bool {
    const TAGS: [&str; 14] = [
        "!doctype", "html", "head", "body", "meta", "title", "p", "div", "table", "span", "br",
        "script", "link", "!--",
    ];
    let mut end = text.len().min(SNIFF_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    head.match_indices('<').any(|(at, _)| {
        let after = &head[at + 1..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '!' | '-'))
            .take(9)
            .collect::<String>()
            .to_ascii_lowercase();
        TAGS.iter()
            .any(|t| name == *t || (t.starts_with('!') && name.starts_with(t)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_bytes(bytes: &[u8], content_type: Option<&str>) -> Result<Decoded, PageError> {
        decode(&PageInput {
            bytes,
            content_type,
            url: None,
        })
    }

    #[test]
    fn the_content_type_charset_comes_before_the_meta() {
        let (gbk, _, _) = encoding_rs::GBK.encode("<meta charset=\"utf-8\"><p>黄南</p>");
        let page = decode_bytes(&gbk, Some("text/html; charset=GBK")).unwrap();
        assert!(page.text.contains("黄南"));
        assert!(!page.is_text_form);
    }

    #[test]
    fn a_meta_charset_is_found_in_either_form() {
        for head in [
            "<meta charset=gb18030>",
            "<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=gb2312\">",
        ] {
            let page = format!("<html><head>{head}</head>黄南要闻");
            let (bytes, _, _) = GB18030.encode(&page);
            let page = decode_bytes(&bytes, None).unwrap();
            assert!(page.text.contains("黄南要闻"), "{head}");
        }
    }

    #[test]
    fn a_wrong_legacy_declaration_on_utf8_bytes_reads_as_utf8() {
        let bytes = "<meta charset=gb2312><p>黄南藏族自治州</p>".as_bytes();
        assert!(
            decode_bytes(bytes, None)
                .unwrap()
                .text
                .contains("黄南藏族自治州")
        );
    }

    #[test]
    fn undeclared_bytes_that_are_not_utf8_read_as_gb18030() {
        let (bytes, _, _) = GB18030.encode("<p>领导动态</p>");
        assert!(
            decode_bytes(&bytes, None)
                .unwrap()
                .text
                .contains("领导动态")
        );
    }

    #[test]
    fn a_byte_order_mark_wins() {
        let mut bytes = vec![0xef, 0xbb, 0xbf];
        bytes.extend_from_slice("<p>首页</p>".as_bytes());
        let page = decode_bytes(&bytes, Some("text/html; charset=gbk")).unwrap();
        assert_eq!(page.text, "<p>首页</p>");
    }

    #[test]
    fn binary_types_and_bytes_are_refused() {
        let err = decode_bytes(b"<p>x</p>", Some("image/png")).unwrap_err();
        assert_eq!(err.to_string(), "is binary (image/png), not a page");
        let err = decode_bytes(b"%PDF-1.7 ...", Some("application/octet-stream")).unwrap_err();
        assert_eq!(err.to_string(), "is binary (application/pdf), not a page");
    }

    #[test]
    fn text_without_tags_is_the_text_form() {
        assert!(
            decode_bytes("现在的位置:首页".as_bytes(), None)
                .unwrap()
                .is_text_form
        );
        assert!(
            decode_bytes(b"<p>x</p>", Some("text/plain"))
                .unwrap()
                .is_text_form
        );
        assert!(
            !decode_bytes(b"<!DOCTYPE html><p>x</p>", None)
                .unwrap()
                .is_text_form
        );
        assert!(
            !decode_bytes(b"  <!-- cms --><div>x</div>", None)
                .unwrap()
                .is_text_form
        );
    }
}
