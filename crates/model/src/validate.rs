//! One validator per concept, following the Nacos rules real clients already respect.

use super::error::CoreError;

/// Letters and digits (any script, as Java's `Character.isLetterOrDigit`) and `_ - . :`.
fn nacos_name_chars(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

fn name(field: &'static str, value: &str, max: usize) -> Result<(), CoreError> {
    super::limits::name_token(field, value)?;
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
    super::limits::name_token("tenant", value)?;
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

/// A config's free-text fields, as wide as Nacos' columns (the limits table).
pub fn config_fields(req: &super::configs::PublishConfig) -> Result<(), CoreError> {
    use super::limits::{self, text};
    text("appName", &req.app_name, limits::APP_NAME_CHARS)?;
    text("desc", &req.desc, limits::DESC_CHARS)?;
    text("type", &req.config_type, limits::CONFIG_TYPE_CHARS)?;
    text("config_tags", &req.tags, limits::CONFIG_TAGS_CHARS)?;
    text(
        "encryptedDataKey",
        &req.encrypted_data_key,
        limits::ENCRYPTED_DATA_KEY_CHARS,
    )
}

/// A service name: not blank, no `@@` (that separates group and name), no whitespace.
pub fn service_name(value: &str) -> Result<(), CoreError> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(
            "serviceName",
            "Param 'serviceName' is required.",
        ));
    }
    super::limits::name_token("serviceName", value)?;
    if value.contains("@@")
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
        || value.len() > 512
    {
        return Err(CoreError::invalid(
            "serviceName",
            format!("Param 'serviceName' is illegal: {value}"),
        ));
    }
    Ok(())
}

/// An instance address: an IP or host name.
pub fn ip(value: &str) -> Result<(), CoreError> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_' | '[' | ']' | '%')
        });
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "ip",
            format!("Param 'ip' is illegal: {value}"),
        ))
    }
}

/// Weights are 0..=10000 (Nacos' MIN/MAX_WEIGHT_VALUE), never NaN.
pub fn weight(value: f64) -> Result<(), CoreError> {
    if value.is_finite() && (0.0..=10000.0).contains(&value) {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "weight",
            format!(
                "instance format invalid: The weights range from 0.0 to 10000.0, current is {value}"
            ),
        ))
    }
}

/// Cluster names: letters, digits and `-` (Nacos' cluster name pattern).
pub fn cluster(value: &str) -> Result<(), CoreError> {
    if !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "clusterName",
            format!("cluster name can only have these characters: 0-9a-zA-Z-, current: {value}"),
        ))
    }
}

pub fn protect_threshold(value: f64) -> Result<(), CoreError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "protectThreshold",
            format!("protectThreshold must be between 0 and 1, current is {value}"),
        ))
    }
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
    fn naming_rules() {
        assert!(service_name("order-service").is_ok());
        assert!(service_name("G@@svc").is_err());
        assert!(service_name(" ").is_err());
        assert!(ip("10.0.0.1").is_ok() && ip("fe80::1").is_ok() && ip("host-1.local").is_ok());
        assert!(ip("").is_err() && ip("1.2.3.4 ; rm").is_err());
        assert!(weight(0.0).is_ok() && weight(10000.0).is_ok());
        assert!(weight(f64::NAN).is_err() && weight(-1.0).is_err() && weight(10000.1).is_err());
        assert!(cluster("DEFAULT").is_ok() && cluster("a b").is_err());
        assert!(protect_threshold(0.5).is_ok() && protect_threshold(1.5).is_err());
    }

    #[test]
    fn content_limits() {
        assert!(content("x", 1).is_ok());
        assert!(content("xx", 1).is_err());
        assert!(content(" \n", 10).is_err());
    }
}
