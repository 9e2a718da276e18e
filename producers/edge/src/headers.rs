//! The viewer headers CloudFront can add (`CloudFront-Viewer-*`, `CloudFront-Is-*-Viewer`),
//! read and checked against the page-view schema's bounds.
//!
//! Every value is taken from the header's first entry. A value out of the schema's bounds, or
//! malformed, is dropped (the field is absent), never passed on.
//!
//! Read and kept: country, region, city, time zone and the six device flags. Read but not kept
//! (the schema has no field; the code carries the same): country name, region name. **Never
//! read**, deliberately, for privacy: `CloudFront-Viewer-Postal-Code`,
//! `CloudFront-Viewer-Latitude`, `CloudFront-Viewer-Longitude`, `CloudFront-Viewer-Metro-Code`
//! and `CloudFront-Viewer-Address` (the IP and port); nor the ASN, TLS, JA3/JA4 or header-order
//! headers, which fingerprint a viewer.

use crate::event::CfRequest;

/// A request's headers, by lower-case name, as the page-view rules read them.
///
/// An origin-request record is one ([`CfRequest`]); a producer that sees requests some other way
/// (`tally serve`) gives the headers CloudFront would have given, so every producer's request goes
/// through the same reading: [`ViewerHeaders::read`], the prefetch and bot-flag checks and
/// [`crate::PageRequest::from_headers`].
pub trait HeaderSource {
    /// The first value of the header `lower_name`.
    fn first(&self, lower_name: &str) -> Option<&str>;
    /// Whether any value of the header `lower_name` passes `test`.
    fn any_value(&self, lower_name: &str, test: &mut dyn FnMut(&str) -> bool) -> bool;
}

impl HeaderSource for CfRequest {
    fn first(&self, lower_name: &str) -> Option<&str> {
        self.header(lower_name)
    }

    fn any_value(&self, lower_name: &str, test: &mut dyn FnMut(&str) -> bool) -> bool {
        self.header_values(lower_name).any(test)
    }
}

/// `CloudFront-Viewer-Country`: ISO 3166-1 alpha-2.
pub const COUNTRY: &str = "cloudfront-viewer-country";
/// `CloudFront-Viewer-Country-Name`.
pub const COUNTRY_NAME: &str = "cloudfront-viewer-country-name";
/// `CloudFront-Viewer-Country-Region`: the ISO 3166-2 subdivision code, without the country.
pub const COUNTRY_REGION: &str = "cloudfront-viewer-country-region";
/// `CloudFront-Viewer-Country-Region-Name`.
pub const COUNTRY_REGION_NAME: &str = "cloudfront-viewer-country-region-name";
/// `CloudFront-Viewer-City`.
pub const CITY: &str = "cloudfront-viewer-city";
/// `CloudFront-Viewer-Time-Zone`: an IANA time-zone name.
pub const TIME_ZONE: &str = "cloudfront-viewer-time-zone";
/// `CloudFront-Is-Desktop-Viewer`.
pub const IS_DESKTOP: &str = "cloudfront-is-desktop-viewer";
/// `CloudFront-Is-Mobile-Viewer`.
pub const IS_MOBILE: &str = "cloudfront-is-mobile-viewer";
/// `CloudFront-Is-Tablet-Viewer`.
pub const IS_TABLET: &str = "cloudfront-is-tablet-viewer";
/// `CloudFront-Is-SmartTV-Viewer`.
pub const IS_SMARTTV: &str = "cloudfront-is-smarttv-viewer";
/// `CloudFront-Is-IOS-Viewer`.
pub const IS_IOS: &str = "cloudfront-is-ios-viewer";
/// `CloudFront-Is-Android-Viewer`.
pub const IS_ANDROID: &str = "cloudfront-is-android-viewer";

/// Longest city or country/region name kept, in characters (the schema's `city` bound).
const MAX_NAME_CHARS: usize = 128;

/// What CloudFront's viewer headers said, each value checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerHeaders {
    /// Two upper-case ASCII letters.
    pub country: Option<String>,
    /// The country's name (read, not stored in the page view).
    pub country_name: Option<String>,
    /// 1–8 ASCII letters or digits.
    pub region: Option<String>,
    /// The region's name (read, not stored in the page view).
    pub region_name: Option<String>,
    /// 1–128 characters, no control characters.
    pub city: Option<String>,
    /// 1–64 characters of `A-Za-z0-9_+-/`.
    pub timezone: Option<String>,
    /// The device flags.
    pub flags: DeviceFlags,
}

/// The `CloudFront-Is-*-Viewer` flags: `true` only when the header's value is `true` (any case).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceFlags {
    /// `CloudFront-Is-Desktop-Viewer`.
    pub desktop: bool,
    /// `CloudFront-Is-Mobile-Viewer`.
    pub mobile: bool,
    /// `CloudFront-Is-Tablet-Viewer`.
    pub tablet: bool,
    /// `CloudFront-Is-SmartTV-Viewer`.
    pub smarttv: bool,
    /// `CloudFront-Is-IOS-Viewer`.
    pub ios: bool,
    /// `CloudFront-Is-Android-Viewer`.
    pub android: bool,
}

impl ViewerHeaders {
    /// Reads the viewer headers of a request.
    pub fn read<H: HeaderSource + ?Sized>(request: &H) -> Self {
        let flag = |name| request.first(name).is_some_and(is_true);
        ViewerHeaders {
            country: request.first(COUNTRY).and_then(country),
            country_name: request.first(COUNTRY_NAME).and_then(name),
            region: request.first(COUNTRY_REGION).and_then(region),
            region_name: request.first(COUNTRY_REGION_NAME).and_then(name),
            city: request.first(CITY).and_then(name),
            timezone: request.first(TIME_ZONE).and_then(timezone),
            flags: DeviceFlags {
                desktop: flag(IS_DESKTOP),
                mobile: flag(IS_MOBILE),
                tablet: flag(IS_TABLET),
                smarttv: flag(IS_SMARTTV),
                ios: flag(IS_IOS),
                android: flag(IS_ANDROID),
            },
        }
    }
}

fn is_true(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

/// A country code as the page view keeps it: exactly two upper-case ASCII letters (after
/// trimming), else `None`. Shared with producers that read the country from elsewhere (logs).
pub fn country(v: &str) -> Option<String> {
    let v = v.trim();
    (v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase())).then(|| v.to_owned())
}

fn region(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && v.len() <= 8 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| v.to_owned())
}

fn timezone(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'/')))
    .then(|| v.to_owned())
}

/// A free-text name (city, country, region): trimmed, 1–128 characters, no control characters.
fn name(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > MAX_NAME_CHARS * 4 {
        return None;
    }
    let mut chars = 0;
    for c in v.chars() {
        if c.is_control() {
            return None;
        }
        chars += 1;
    }
    (chars <= MAX_NAME_CHARS).then(|| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(country("FR").as_deref(), Some("FR"));
        for bad in ["fr", "FRA", "F", "", "F1", "ÉT"] {
            assert_eq!(country(bad), None, "{bad}");
        }
        assert_eq!(region("IDF").as_deref(), Some("IDF"));
        for bad in ["", "ABCDEFGHI", "A-B", "É"] {
            assert_eq!(region(bad), None, "{bad}");
        }
        assert_eq!(
            timezone("America/Port-au-Prince").as_deref(),
            Some("America/Port-au-Prince")
        );
        assert_eq!(timezone("Etc/GMT+5").as_deref(), Some("Etc/GMT+5"));
        for bad in ["", "Europe/Paris ok", &"A".repeat(65)] {
            assert_eq!(timezone(bad), None, "{bad}");
        }
        assert_eq!(name(" São Paulo ").as_deref(), Some("São Paulo"));
        assert_eq!(name(&"é".repeat(128)).map(|s| s.chars().count()), Some(128));
        for bad in ["", "  ", "a\nb", &"é".repeat(129)] {
            assert_eq!(name(bad), None, "{bad:?}");
        }
        assert!(is_true("TRUE") && is_true("true") && !is_true("yes") && !is_true("false"));
    }
}
