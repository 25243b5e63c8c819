//! Reading a configuration: the TOML text, then `LOWPAN_*` environment overrides, then
//! serde into the [`ConfigFile`] schema, then [`validate`].
//!
//! Serde stops at the first problem; an operator wants them all: `tomlcheck` reports each
//! key the schema refuses with its dotted path and serde's reason, leaves it out, and the
//! rest is still validated.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Value;
use tomlcheck::covers;

use super::schema::{ConfigFile, key_tree};
use super::validate::validate;
use super::{Config, ConfigError, ConfigIssue, ENV_PREFIX};

/// As [`Config::load_str`].
pub fn load_str(
    text: &str,
    origin: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: origin.to_owned(),
        message: e.to_string(),
    })?;
    let mut issues = Vec::new();
    let from_env = apply_env(&mut doc, env, &mut issues);

    let mut file = tomlcheck::deserialize_all::<ConfigFile>(doc);
    let more = match file.value.take().map(validate) {
        Some(Ok(cfg)) if issues.is_empty() && file.issues.is_empty() => return Ok(cfg),
        Some(Err(more)) => file.validation_issues(more).collect(),
        _ => Vec::new(),
    };
    issues.extend(file.issues);
    issues.extend(more);
    for issue in &mut issues {
        if let Some((_, var)) = from_env.iter().find(|(k, _)| covers(k, &issue.key)) {
            issue
                .reason
                .push_str(&format!(" (from environment variable {var})"));
        }
    }
    Err(ConfigError::Invalid(issues))
}

/// Applies `LOWPAN_<SECTION>__<KEY>` overrides to `doc`, each value typed like the key's
/// default (lists are comma-separated). Returns the dotted keys set and their variables.
///
/// Only variables of that form (with the `__` between section and key) are overrides: other
/// programs and scripts of the project use `LOWPAN_*` names of their own (for example the
/// test suite's `LOWPAN_PACKAGING_TESTS`), and they are no typo of a configuration key.
fn apply_env(
    doc: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    issues: &mut Vec<ConfigIssue>,
) -> BTreeMap<String, String> {
    let tree = key_tree();
    let prefix = format!("{ENV_PREFIX}_");
    let env: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| {
            k.len() > prefix.len()
                && k[..prefix.len()].eq_ignore_ascii_case(&prefix)
                && k[prefix.len()..].contains("__")
        })
        .collect();
    let mut applied = BTreeMap::new();
    for (var, text) in env {
        let dotted = var[prefix.len()..].to_ascii_lowercase().replace("__", ".");
        let Some(default) = leaf(&tree, &dotted) else {
            issues.push(ConfigIssue {
                key: dotted,
                reason: format!("unknown key (from environment variable {var})"),
            });
            continue;
        };
        let value = typed_like(default, &text);
        let mut parts: Vec<&str> = dotted.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        match table_at(doc, &parts) {
            Ok(table) => {
                table.insert(last.to_string(), value);
                applied.insert(dotted, var);
            }
            Err(part) => issues.push(ConfigIssue {
                key: part.into(),
                reason: format!("is not a table, so {var} cannot set {dotted}"),
            }),
        }
    }
    applied
}

/// The table at `parts` (made when missing), or the first part that is not a table.
fn table_at<'a>(
    mut table: &'a mut toml::Table,
    parts: &[&'a str],
) -> Result<&'a mut toml::Table, &'a str> {
    for part in parts {
        table = match table
            .entry(*part)
            .or_insert_with(|| Value::Table(Default::default()))
        {
            Value::Table(t) => t,
            _ => return Err(part),
        };
    }
    Ok(table)
}

/// The default of a scalar or scalar-list key (`None` for tables, arrays of tables and
/// unknown keys).
fn leaf<'a>(tree: &'a Value, dotted: &str) -> Option<&'a Value> {
    let mut node = tree;
    for part in dotted.split('.') {
        node = node.as_table()?.get(part)?;
    }
    match node {
        Value::Table(_) => None,
        Value::Array(a) if a.first().is_some_and(Value::is_table) => None,
        v => Some(v),
    }
}

/// `text` as the TOML type of `like`; left a string when it does not parse, so that serde
/// names the key and the expected type.
fn typed_like(like: &Value, text: &str) -> Value {
    match like {
        Value::Integer(_) => text
            .trim()
            .parse()
            .map(Value::Integer)
            .unwrap_or_else(|_| Value::String(text.into())),
        Value::Float(_) => text
            .trim()
            .parse()
            .map(Value::Float)
            .unwrap_or_else(|_| Value::String(text.into())),
        Value::Boolean(_) => text
            .trim()
            .to_ascii_lowercase()
            .parse()
            .map(Value::Boolean)
            .unwrap_or_else(|_| Value::String(text.into())),
        Value::Array(_) => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        _ => Value::String(text.into()),
    }
}
