//! The device class, from CloudFront's device flags first and the user agent second.
//!
//! CloudFront may set more than one flag (some tablets are both mobile and tablet), so the class
//! follows a fixed precedence, most specific first:
//!
//! 1. `CloudFront-Is-SmartTV-Viewer: true` → `smarttv`
//! 2. `CloudFront-Is-Tablet-Viewer: true` → `tablet`
//! 3. `CloudFront-Is-Mobile-Viewer: true` → `mobile`
//! 4. `CloudFront-Is-Desktop-Viewer: true` → `desktop`
//! 5. otherwise the user agent's class (see [`crate::agent`]), which may itself be `unknown`.

use tally_schema::DeviceClass;

use crate::headers::DeviceFlags;

/// The device class: CloudFront's flags by precedence, else `from_user_agent`.
pub fn device_class(flags: DeviceFlags, from_user_agent: DeviceClass) -> DeviceClass {
    if flags.smarttv {
        DeviceClass::Smarttv
    } else if flags.tablet {
        DeviceClass::Tablet
    } else if flags.mobile {
        DeviceClass::Mobile
    } else if flags.desktop {
        DeviceClass::Desktop
    } else {
        from_user_agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let none = DeviceFlags::default();
        let f = |smarttv, tablet, mobile, desktop| DeviceFlags {
            smarttv,
            tablet,
            mobile,
            desktop,
            ..none
        };
        let ua = DeviceClass::Desktop;
        assert_eq!(
            device_class(f(true, true, true, true), ua),
            DeviceClass::Smarttv
        );
        assert_eq!(
            device_class(f(false, true, true, false), ua),
            DeviceClass::Tablet
        );
        assert_eq!(
            device_class(f(false, false, true, true), ua),
            DeviceClass::Mobile
        );
        assert_eq!(
            device_class(f(false, false, false, true), DeviceClass::Mobile),
            DeviceClass::Desktop
        );
        assert_eq!(device_class(none, DeviceClass::Tablet), DeviceClass::Tablet);
        assert_eq!(
            device_class(none, DeviceClass::Unknown),
            DeviceClass::Unknown
        );
    }
}
