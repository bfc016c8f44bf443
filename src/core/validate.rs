//! One validator per concept, following the Nacos rules real clients already respect.

use super::error::CoreError;

/// Letters and digits (any script, as Java's `Character.isLetterOrDigit`) and `_ - . :`.
fn nacos_name_chars(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

fn name(field: &'static str, value: &str, max: usize) -> Result<(), CoreError> {
    if value.trim().is_empty() || !nacos_name_chars(value) {
        return Err(CoreError::invalid(
            field,
            format!("invalid {field} : {value}"),
        ));
    }
    if value.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("invalid {field} : longer than {max} characters"),
        ));
    }
    Ok(())
}

pub fn data_id(value: &str) -> Result<(), CoreError> {
    name("dataId", value, 255)
}

pub fn group(value: &str) -> Result<(), CoreError> {
    name("group", value, 128)
}

/// A namespace id as a config or instance refers to it (`""` means public).
pub fn namespace_ref(value: &str) -> Result<(), CoreError> {
    if value.is_empty() {
        return Ok(());
    }
    if !nacos_name_chars(value) {
        return Err(CoreError::invalid(
            "tenant",
            format!("invalid tenant : {value}"),
        ));
    }
    if value.len() > 128 {
        return Err(CoreError::invalid("tenant", "too long tenant, over 128"));
    }
    Ok(())
}

/// A namespace id being created: letters, digits, `_` and `-`, at most 128.
pub fn new_namespace_id(value: &str) -> Result<(), CoreError> {
    if value.is_empty()
        || value.len() > 128
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(CoreError::invalid(
            "customNamespaceId",
            format!("namespaceId [{value}] must be 1-128 letters, digits, '_' or '-'"),
        ));
    }
    Ok(())
}

/// A namespace's display name: not blank, none of `@#$%^&*`.
pub fn namespace_name(value: &str) -> Result<(), CoreError> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(
            "namespaceName",
            "namespaceName must not be blank",
        ));
    }
    if value.chars().any(|c| "@#$%^&*".contains(c)) || value.chars().count() > 256 {
        return Err(CoreError::invalid(
            "namespaceName",
            format!("namespaceName [{value}] contains illegal characters"),
        ));
    }
    Ok(())
}

pub fn content(value: &str, max_bytes: usize) -> Result<(), CoreError> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(
            "content",
            format!("content is blank : {value}"),
        ));
    }
    if value.len() > max_bytes {
        return Err(CoreError::invalid(
            "content",
            format!("invalid content, over {max_bytes}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nacos_names_allow_dots_colons_and_letters_of_any_script() {
        for ok in ["app.yaml", "com.acme:svc-1_x", "配置"] {
            assert!(data_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "  ", "a b", "a/b", "a*b", "a>b", "a@b", "a\u{0}b"] {
            assert!(data_id(bad).is_err(), "{bad:?}");
        }
        assert!(group(&"g".repeat(129)).is_err());
    }

    #[test]
    fn namespace_rules() {
        assert!(namespace_ref("").is_ok());
        assert!(namespace_ref("dev-1").is_ok());
        assert!(namespace_ref("a b").is_err());
        assert!(namespace_ref(&"n".repeat(129)).is_err());
        assert!(new_namespace_id("dev_1-x").is_ok());
        assert!(new_namespace_id("dev.1").is_err());
        assert!(namespace_name("Dev env").is_ok());
        assert!(namespace_name("a#b").is_err());
    }

    #[test]
    fn content_limits() {
        assert!(content("x", 1).is_ok());
        assert!(content("xx", 1).is_err());
        assert!(content(" \n", 10).is_err());
    }
}
