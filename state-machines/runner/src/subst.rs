//! `${Name}` placeholders replaced before parsing, as SAM/CloudFormation
//! `DefinitionSubstitutions` do (plain text replacement, no escaping).

use std::collections::BTreeMap;

use crate::error::LoadError;

/// Replaces every `${Name}` in `text` by its value; a placeholder without a
/// value is an error naming it. Unused substitutions are ignored.
pub fn substitute(
    text: &str,
    substitutions: &BTreeMap<String, String>,
) -> Result<String, LoadError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        match substitutions.get(name) {
            Some(value) => out.push_str(value),
            None => return Err(LoadError::MissingSubstitution(name.to_owned())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
