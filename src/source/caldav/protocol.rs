//! CalDAV protocol as values: request bodies and multistatus parsing, no I/O.
//!
//! Namespaces are matched by URI (`DAV:`, `urn:ietf:params:xml:ns:caldav`,
//! `http://calendarserver.org/ns/`), never by prefix: servers use `d:`, `D:`, `ns0:` or a
//! default namespace. This module must never send a request or look at a socket; the client in
//! the parent module does that and feeds the bytes back here.

use chrono::{DateTime, Utc};

use super::DavError;

/// WebDAV namespace.
pub const DAV: &str = "DAV:";
/// CalDAV namespace (RFC 4791).
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// Apple CalendarServer namespace (`getctag`).
pub const CALSERVER: &str = "http://calendarserver.org/ns/";

const XML_HEADER: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// One `DAV:response` of a multistatus body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The `DAV:href`, as the server wrote it (not yet resolved or decoded).
    pub href: String,
    /// HTTP status directly on the response (used for deleted members and missing hrefs).
    pub status: Option<u16>,
    /// Properties from propstats with a 2xx status.
    pub props: Vec<Prop>,
}

impl Response {
    /// The 2xx property `name` in namespace `ns`.
    #[must_use]
    pub fn prop(&self, ns: &str, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.ns == ns && p.name == name)
    }

    /// Text of the 2xx property `name` in namespace `ns`, trimmed, if non-empty.
    #[must_use]
    pub fn text(&self, ns: &str, name: &str) -> Option<String> {
        self.prop(ns, name)
            .map(|p| p.text.trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    /// Whether the response-level status says the member is gone (404).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}

/// A property value, flattened to what calmeet reads from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prop {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub name: String,
    /// All text inside the element, concatenated (not trimmed: calendar-data keeps its bytes).
    pub text: String,
    /// Texts of every nested `DAV:href`.
    pub hrefs: Vec<String>,
    /// Every nested element as (namespace, local name, `name` attribute if any).
    pub children: Vec<(String, String, Option<String>)>,
}

impl Prop {
    /// Whether a nested element `ns:name` exists (e.g. `caldav:calendar` in resourcetype).
    #[must_use]
    pub fn has_child(&self, ns: &str, name: &str) -> bool {
        self.children.iter().any(|(n, l, _)| n == ns && l == name)
    }
}

/// A parsed multistatus body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multistatus {
    /// The responses in document order.
    pub responses: Vec<Response>,
    /// Top-level `DAV:sync-token` (sync-collection reports only).
    pub sync_token: Option<String>,
}

/// Formats an instant as a CalDAV UTC date-time (`20250101T000000Z`).
fn caldav_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes text for XML element content.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `calendar-query` REPORT: every VEVENT object overlapping `[start, end)`, etags only.
#[must_use]
pub fn calendar_query_body(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        r#"{XML_HEADER}
<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}">
  <D:prop><D:getetag/></D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="{}" end="{}"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>"#,
        caldav_time(start),
        caldav_time(end)
    )
}

/// `calendar-multiget` REPORT for `hrefs` (paths as the server gave them).
#[must_use]
pub fn calendar_multiget_body(hrefs: &[String]) -> String {
    let hrefs: String = hrefs
        .iter()
        .flat_map(|h| {
            [
                "  <D:href>".to_owned(),
                xml_escape(h),
                "</D:href>\n".to_owned(),
            ]
        })
        .collect();
    format!(
        r#"{XML_HEADER}
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
{hrefs}</C:calendar-multiget>"#
    )
}

/// `sync-collection` REPORT (RFC 6578); `None` asks for the initial full listing.
#[must_use]
pub fn sync_collection_body(token: Option<&str>) -> String {
    let token = token.map(xml_escape).unwrap_or_default();
    format!(
        r#"{XML_HEADER}
<D:sync-collection xmlns:D="DAV:">
  <D:sync-token>{token}</D:sync-token>
  <D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop>
</D:sync-collection>"#
    )
}

/// PROPFIND for a collection's change markers and capabilities.
#[must_use]
pub fn collection_state_body() -> String {
    format!(
        r#"{XML_HEADER}
<D:propfind xmlns:D="DAV:" xmlns:CS="{CALSERVER}" xmlns:C="{CALDAV}">
  <D:prop><CS:getctag/><D:sync-token/><D:supported-report-set/><D:displayname/></D:prop>
</D:propfind>"#
    )
}

/// PROPFIND for one change marker of a collection: a single property, because a server may
/// compute each one by walking every member (Radicale does).
#[must_use]
pub fn change_marker_body(sync_token: bool) -> String {
    let prop = if sync_token {
        "<D:sync-token/>"
    } else {
        "<CS:getctag/>"
    };
    format!(
        r#"{XML_HEADER}
<D:propfind xmlns:D="DAV:" xmlns:CS="{CALSERVER}"><D:prop>{prop}</D:prop></D:propfind>"#
    )
}

/// PROPFIND for one resource's ETag.
#[must_use]
pub fn getetag_body() -> String {
    format!(
        r#"{XML_HEADER}
<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#
    )
}

/// PROPFIND for the authenticated user's principal URL.
#[must_use]
pub fn current_user_principal_body() -> String {
    format!(
        r#"{XML_HEADER}
<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-principal/></D:prop></D:propfind>"#
    )
}

/// PROPFIND for a principal's calendar home.
#[must_use]
pub fn calendar_home_set_body() -> String {
    format!(
        r#"{XML_HEADER}
<D:propfind xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><C:calendar-home-set/></D:prop></D:propfind>"#
    )
}

/// PROPFIND Depth 1 on a calendar home: which members are calendars, their names and types.
#[must_use]
pub fn list_calendars_body() -> String {
    format!(
        r#"{XML_HEADER}
<D:propfind xmlns:D="DAV:" xmlns:C="{CALDAV}">
  <D:prop><D:resourcetype/><D:displayname/><C:supported-calendar-component-set/></D:prop>
</D:propfind>"#
    )
}

/// MKCALENDAR body setting a display name.
#[must_use]
pub fn mkcalendar_body(display_name: &str) -> String {
    format!(
        r#"{XML_HEADER}
<C:mkcalendar xmlns:D="DAV:" xmlns:C="{CALDAV}">
  <D:set><D:prop>
    <D:displayname>{}</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>"#,
        xml_escape(display_name)
    )
}

/// Parses an HTTP status line such as `HTTP/1.1 404 Not Found`.
fn parse_status(text: &str) -> Option<u16> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Protects carriage returns in calendar-data from XML end-of-line normalisation (XML 1.0
/// §2.11), which would turn the CRLF of an iCalendar body into LF. Inside a `calendar-data`
/// element (any prefix), a CR in text becomes `&#13;` and a CDATA section is split around a
/// `&#13;`. Everywhere else the document is left as it is: between the XML declaration and the
/// root element (SOGo sends CRLF there) a character reference is not allowed, and in tags,
/// comments, processing instructions and other text a CR is whitespace or does not matter.
fn protect_carriage_returns(body: &str) -> std::borrow::Cow<'_, str> {
    if !body.contains('\r') {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len() + 64);
    let mut rest = body;
    // Local names of the open elements, innermost last.
    let mut open: Vec<&str> = Vec::new();
    let in_data = |open: &[&str]| open.last().is_some_and(|n| *n == "calendar-data");
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").unwrap_or(after.len());
            out.push_str("<![CDATA[");
            if in_data(&open) {
                out.push_str(&after[..end].replace('\r', "]]>&#13;<![CDATA["));
            } else {
                out.push_str(&after[..end]);
            }
            rest = &after[end..];
        } else if let Some(skip) = ["<!--", "<?"].iter().find(|p| rest.starts_with(**p)) {
            let close = if *skip == "<!--" { "-->" } else { "?>" };
            let end = rest.find(close).map_or(rest.len(), |i| i + close.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else if rest.starts_with('<') {
            // A tag: copy up to the closing '>' outside attribute quotes.
            let mut quote = None;
            let end = rest
                .char_indices()
                .find(|&(_, c)| match quote {
                    Some(q) if c == q => {
                        quote = None;
                        false
                    }
                    Some(_) => false,
                    None if c == '"' || c == '\'' => {
                        quote = Some(c);
                        false
                    }
                    None => c == '>',
                })
                .map_or(rest.len(), |(i, _)| i + 1);
            let tag = &rest[..end];
            if tag.starts_with("</") {
                open.pop();
            } else if !tag.starts_with("<!") && !tag.ends_with("/>") {
                let name = tag[1..]
                    .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
                    .next()
                    .unwrap_or("");
                open.push(name.rsplit(':').next().unwrap_or(name));
            }
            out.push_str(tag);
            rest = &rest[end..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            if in_data(&open) {
                out.push_str(&rest[..end].replace('\r', "&#13;"));
            } else {
                out.push_str(&rest[..end]);
            }
            rest = &rest[end..];
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The body as text ready for roxmltree (UTF-8 checked, carriage returns protected).
fn xml_text(body: &[u8]) -> Result<String, DavError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| malformed(format!("response body is not UTF-8 ({e})")))?;
    Ok(protect_carriage_returns(text).into_owned())
}

fn malformed(reason: impl Into<String>) -> DavError {
    DavError::Malformed {
        url: String::new(),
        reason: reason.into(),
    }
}

/// Parses a `DAV:multistatus` body. The error carries no URL; the client adds it.
///
/// # Errors
/// [`DavError::Malformed`] when the body is not XML or its root is not `DAV:multistatus`.
pub fn parse_multistatus(body: &[u8]) -> Result<Multistatus, DavError> {
    let text = xml_text(body)?;
    let doc =
        roxmltree::Document::parse(&text).map_err(|e| malformed(format!("invalid XML ({e})")))?;
    let root = doc.root_element();
    if !is(root, DAV, "multistatus") {
        return Err(malformed(format!(
            "expected DAV:multistatus, got {}{}",
            root.tag_name().namespace().unwrap_or(""),
            root.tag_name().name()
        )));
    }
    let mut out = Multistatus::default();
    for child in root.children().filter(roxmltree::Node::is_element) {
        if is(child, DAV, "sync-token") {
            out.sync_token = Some(node_text(child).trim().to_owned()).filter(|t| !t.is_empty());
        } else if is(child, DAV, "response") {
            out.responses.push(parse_response(child)?);
        }
    }
    Ok(out)
}

fn parse_response(node: roxmltree::Node<'_, '_>) -> Result<Response, DavError> {
    let mut response = Response::default();
    let mut href = None;
    for child in node.children().filter(roxmltree::Node::is_element) {
        if is(child, DAV, "href") && href.is_none() {
            href = Some(node_text(child).trim().to_owned());
        } else if is(child, DAV, "status") {
            response.status = parse_status(&node_text(child));
        } else if is(child, DAV, "propstat") {
            let status = child
                .children()
                .find(|n| is(*n, DAV, "status"))
                .and_then(|n| parse_status(&node_text(n)));
            if !status.is_some_and(|s| (200..300).contains(&s)) {
                continue;
            }
            let props = child.children().filter(|n| is(*n, DAV, "prop"));
            for prop in props.flat_map(|p| p.children().filter(roxmltree::Node::is_element)) {
                response.props.push(parse_prop(prop));
            }
        }
    }
    response.href = href
        .filter(|h| !h.is_empty())
        .ok_or_else(|| malformed("a DAV:response has no DAV:href"))?;
    Ok(response)
}

fn parse_prop(node: roxmltree::Node<'_, '_>) -> Prop {
    let mut prop = Prop {
        ns: node.tag_name().namespace().unwrap_or("").to_owned(),
        name: node.tag_name().name().to_owned(),
        text: node_text(node),
        ..Prop::default()
    };
    for d in node
        .descendants()
        .skip(1)
        .filter(roxmltree::Node::is_element)
    {
        if is(d, DAV, "href") {
            prop.hrefs.push(node_text(d).trim().to_owned());
        }
        prop.children.push((
            d.tag_name().namespace().unwrap_or("").to_owned(),
            d.tag_name().name().to_owned(),
            d.attribute("name").map(str::to_owned),
        ));
    }
    prop
}

/// The `DAV:error` conditions of an error body (e.g. `valid-sync-token`), as (namespace,
/// local name). Empty when the body is not a `DAV:error` document.
#[must_use]
pub fn parse_error_conditions(body: &[u8]) -> Vec<(String, String)> {
    let Ok(text) = xml_text(body) else {
        return Vec::new();
    };
    let Ok(doc) = roxmltree::Document::parse(&text) else {
        return Vec::new();
    };
    let root = doc.root_element();
    if !is(root, DAV, "error") {
        return Vec::new();
    }
    root.children()
        .filter(roxmltree::Node::is_element)
        .map(|n| {
            (
                n.tag_name().namespace().unwrap_or("").to_owned(),
                n.tag_name().name().to_owned(),
            )
        })
        .collect()
}

fn is(node: roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

fn node_text(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(roxmltree::Node::is_text)
        .filter_map(|n| n.text())
        .collect()
}

/// Percent-decodes an href path for comparison (`%40` and `@` are the same member).
#[must_use]
pub fn decode_href(href: &str) -> String {
    let bytes = href.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether two hrefs (paths or URLs already reduced to paths) name the same resource:
/// compared percent-decoded, ignoring a trailing slash.
#[must_use]
pub fn same_href(a: &str, b: &str) -> bool {
    let a = decode_href(a);
    let b = decode_href(b);
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Issue #13 item 1 (SOGo): CR, LF or CRLF at every position of a multistatus — prolog,
    /// between elements, inside tags, in other text, inside calendar-data as text or CDATA —
    /// parses, and calendar-data keeps its bytes exactly.
    #[test]
    fn line_breaks_anywhere_in_a_multistatus() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-LF-ONLY:a\nEND:VCALENDAR\r\n";
        let escaped = ics.replace('\r', "&#13;");
        // `{}` marks where a line break goes.
        let template = |data: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>{{}}<!-- c{{}} -->{{}}\
<D:multistatus {{}}xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">{{}}\
<D:response>{{}}<D:href>/c/a.ics</D:href>{{}}<D:propstat>{{}}<D:prop>{{}}\
<D:getetag>\"e1\"</D:getetag>{{}}<C:calendar-data>{data}</C:calendar-data>{{}}\
</D:prop>{{}}<D:status>HTTP/1.1 200 OK</D:status>{{}}</D:propstat>{{}}</D:response>{{}}\
<D:sync-token>t{{}}</D:sync-token>{{}}</D:multistatus>{{}}"
            )
        };
        let datas = [
            ics.to_owned(),
            escaped,
            format!("<![CDATA[{ics}]]>"),
            "BEGIN:VCALENDAR\r\n<![CDATA[VERSION:2.0\r\n]]>X-LF-ONLY:a\nEND:VCALENDAR\r\n"
                .to_owned(),
        ];
        for data in &datas {
            let template = template(data);
            let slots = template.matches("{}").count();
            for eol in ["\r\n", "\n", "\r", ""] {
                // One slot at a time, then all of them.
                for only in (0..slots).map(Some).chain([None]) {
                    let mut body = String::new();
                    for (i, part) in template.split("{}").enumerate() {
                        if i > 0 && only.is_none_or(|o| o + 1 == i) {
                            body.push_str(eol);
                        }
                        body.push_str(part);
                    }
                    let ms = parse_multistatus(body.as_bytes())
                        .unwrap_or_else(|e| panic!("{e}: {body:?}"));
                    let r = &ms.responses[0];
                    assert_eq!(r.href, "/c/a.ics", "{body:?}");
                    assert_eq!(r.text(DAV, "getetag").as_deref(), Some("\"e1\""));
                    assert_eq!(
                        r.prop(CALDAV, "calendar-data").unwrap().text,
                        ics,
                        "{body:?}"
                    );
                    assert!(ms.sync_token.as_deref().is_some_and(|t| t.starts_with('t')));
                }
            }
        }
    }

    #[test]
    fn calendar_query_has_utc_time_range_and_etag_only() {
        let start = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let end = Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap();
        let body = calendar_query_body(start, end);
        assert!(
            body.contains(r#"<C:time-range start="20250102T030405Z" end="20250401T000000Z"/>"#)
        );
        assert!(body.contains("<D:prop><D:getetag/></D:prop>"));
        assert!(!body.contains("calendar-data"));
        roxmltree::Document::parse(&body).unwrap();
    }

    #[test]
    fn multiget_and_sync_bodies_escape_text() {
        let body = calendar_multiget_body(&["/c/a&b.ics".to_owned(), "/c/x.ics".to_owned()]);
        assert!(body.contains("<D:href>/c/a&amp;b.ics</D:href>"));
        roxmltree::Document::parse(&body).unwrap();
        let body = sync_collection_body(Some("http://x/sync/1?a=1&b=2"));
        assert!(body.contains("a=1&amp;b=2</D:sync-token>"));
        assert!(sync_collection_body(None).contains("<D:sync-token></D:sync-token>"));
        for body in [
            collection_state_body(),
            getetag_body(),
            current_user_principal_body(),
            calendar_home_set_body(),
            list_calendars_body(),
            mkcalendar_body("Work & 工作"),
        ] {
            roxmltree::Document::parse(&body).unwrap();
        }
    }

    #[test]
    fn namespaces_are_matched_by_uri_not_prefix() {
        let body = br#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav" xmlns:x="http://calendarserver.org/ns/">
 <response><href>/cal/a%40b.ics</href>
  <propstat><prop><getetag>"e1"</getetag><cal:calendar-data>BEGIN:VCALENDAR
END:VCALENDAR
</cal:calendar-data><x:getctag>c</x:getctag></prop><status>HTTP/1.1 200 OK</status></propstat>
  <propstat><prop><displayname/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
 </response>
 <response><href>/cal/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response>
 <sync-token>http://example.com/sync/3</sync-token>
</multistatus>"#;
        let ms = parse_multistatus(body).unwrap();
        assert_eq!(ms.sync_token.as_deref(), Some("http://example.com/sync/3"));
        assert_eq!(ms.responses.len(), 2);
        let first = &ms.responses[0];
        assert_eq!(first.text(DAV, "getetag").as_deref(), Some("\"e1\""));
        assert_eq!(first.text(CALSERVER, "getctag").as_deref(), Some("c"));
        assert!(
            first.prop(DAV, "displayname").is_none(),
            "404 propstat ignored"
        );
        assert_eq!(
            first.prop(CALDAV, "calendar-data").unwrap().text,
            "BEGIN:VCALENDAR\nEND:VCALENDAR\n"
        );
        assert!(ms.responses[1].is_not_found());
        // A prefix that looks right but is bound to another namespace does not count.
        let body = br#"<d:multistatus xmlns:d="urn:other"><d:response/></d:multistatus>"#;
        assert!(parse_multistatus(body).is_err());
    }

    #[test]
    fn calendar_data_keeps_crlf() {
        let body = "<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\r\n\
                    <D:response>\r\n<D:href>/c/a.ics</D:href><D:propstat><D:prop>\
                    <C:calendar-data>BEGIN:VCALENDAR\r\nX:1\r\n</C:calendar-data>\
                    <D:getetag><![CDATA[\"a\r\nb\"]]></D:getetag></D:prop>\
                    <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\r\n\
                    </D:multistatus>";
        let ms = parse_multistatus(body.as_bytes()).unwrap();
        let response = &ms.responses[0];
        assert_eq!(
            response.prop(CALDAV, "calendar-data").unwrap().text,
            "BEGIN:VCALENDAR\r\nX:1\r\n"
        );
        // Only calendar-data is protected; elsewhere XML's normalisation applies (an ETag
        // cannot hold a line break anyway).
        assert_eq!(response.prop(DAV, "getetag").unwrap().text, "\"a\nb\"");
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [
            &b"<D:multistatus xmlns:D=\"DAV:\"><D:response>"[..],
            b"not xml at all",
            b"<html><body>Login</body></html>",
            b"\xff\xfe",
            b"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>",
        ] {
            let err = parse_multistatus(body).unwrap_err();
            assert!(matches!(err, DavError::Malformed { .. }), "{err:?}");
        }
    }

    #[test]
    fn error_conditions_name_valid_sync_token() {
        let body = br#"<ns0:error xmlns:ns0="DAV:"><ns0:valid-sync-token /><ns0:responsedescription>x</ns0:responsedescription></ns0:error>"#;
        let conditions = parse_error_conditions(body);
        assert!(conditions.contains(&(DAV.to_owned(), "valid-sync-token".to_owned())));
        assert!(parse_error_conditions(b"plain text").is_empty());
    }

    #[test]
    fn hrefs_compare_percent_decoded() {
        assert!(same_href("/cal/a%40b.ics", "/cal/a@b.ics"));
        assert!(same_href("/cal/", "/cal"));
        assert!(!same_href("/cal/a.ics", "/cal/b.ics"));
        assert_eq!(decode_href("/%E4%B8%AD%zz"), "/中%zz");
    }
}
