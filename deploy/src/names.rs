//! Logical ids from names.

/// `archive-page-views` → `ArchivePageViews`: CloudFormation logical ids are alphanumeric.
pub fn logical_id(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The logical id of the rule of consumer `consumer` named `rule`: `{Consumer}{Rule}Rule`.
pub fn rule_logical_id(consumer: &str, rule: &str) -> String {
    format!("{}Rule", logical_id(&format!("{consumer}-{rule}")))
}

/// Whether `name` can be used as a logical id as it is.
pub(crate) fn is_logical_id(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_camel_case_ids() {
        assert_eq!(logical_id("archive-page-views"), "ArchivePageViews");
        assert_eq!(logical_id("top_pages"), "TopPages");
        assert_eq!(
            rule_logical_id("dead-letters", "failed"),
            "DeadLettersFailedRule"
        );
        assert!(is_logical_id("ArchiveStream"));
        assert!(!is_logical_id("archive-stream"));
    }
}
