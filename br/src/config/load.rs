//! Reading a configuration: the TOML text, then `LOWPAN_*` environment overrides, then
//! serde into the [`ConfigFile`] schema, then [`validate`].
//!
//! Serde stops at the first problem; an operator wants them all. So every key of the file
//! is also deserialized on its own (in a document holding nothing else, which the schema's
//! defaults complete): each key that fails alone is reported with its dotted path and
//! serde's reason, left out, and the rest is still validated.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Value;

use super::schema::{ConfigFile, key_tree};
use super::validate::validate;
use super::{Config, ConfigError, ConfigIssue, ENV_PREFIX};

/// As [`Config::load_str`].
pub fn load_str(text: &str, origin: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
    let mut doc: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::Syntax { path: origin.to_owned(), message: e.to_string() })?;
    let mut issues = Vec::new();
    let from_env = apply_env(&mut doc, env, &mut issues);

    let mut refused = Vec::new();
    probe(&mut Vec::new(), &Value::Table(doc.clone()), &mut refused);
    let mut doc = Value::Table(doc);
    // Highest indices first, so that removing one does not move the next.
    for (path, _) in refused.iter().rev() {
        remove(&mut doc, path);
    }
    let refused_keys: Vec<String> = refused.iter().map(|(p, _)| dotted(p)).collect();
    issues.extend(refused.into_iter().map(|(p, reason)| ConfigIssue { key: dotted(&p), reason }));

    match ConfigFile::deserialize(doc) {
        Err(e) => issues.push(ConfigIssue { key: "<file>".into(), reason: e.to_string() }),
        Ok(file) => match validate(file) {
            Ok(cfg) if issues.is_empty() => return Ok(cfg),
            Ok(_) => {}
            // A key refused by serde took its default: what validation says about it (or
            // about what it contains) repeats or misleads.
            Err(more) => issues.extend(more.into_iter().filter(|i| !refused_keys.iter().any(|r| covers(&i.key, r)))),
        },
    }
    for issue in &mut issues {
        if let Some((_, var)) = from_env.iter().find(|(k, _)| covers(k, &issue.key)) {
            issue.reason.push_str(&format!(" (from environment variable {var})"));
        }
    }
    Err(ConfigError::Invalid(issues))
}

/// Whether `outer` names `inner` or something that contains it.
fn covers(outer: &str, inner: &str) -> bool {
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with(['.', '[']))
        || outer.strip_prefix(inner).is_some_and(|rest| rest.starts_with(['.', '[']))
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
            k.len() > prefix.len() && k[..prefix.len()].eq_ignore_ascii_case(&prefix) && k[prefix.len()..].contains("__")
        })
        .collect();
    let mut applied = BTreeMap::new();
    for (var, text) in env {
        let dotted = var[prefix.len()..].to_ascii_lowercase().replace("__", ".");
        let Some(default) = leaf(&tree, &dotted) else {
            issues.push(ConfigIssue { key: dotted, reason: format!("unknown key (from environment variable {var})") });
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
            Err(part) => {
                issues.push(ConfigIssue { key: part.into(), reason: format!("is not a table, so {var} cannot set {dotted}") })
            }
        }
    }
    applied
}

/// The table at `parts` (made when missing), or the first part that is not a table.
fn table_at<'a>(mut table: &'a mut toml::Table, parts: &[&'a str]) -> Result<&'a mut toml::Table, &'a str> {
    for part in parts {
        table = match table.entry(*part).or_insert_with(|| Value::Table(Default::default())) {
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
        Value::Integer(_) => text.trim().parse().map(Value::Integer).unwrap_or_else(|_| Value::String(text.into())),
        Value::Float(_) => text.trim().parse().map(Value::Float).unwrap_or_else(|_| Value::String(text.into())),
        Value::Boolean(_) => {
            text.trim().to_ascii_lowercase().parse().map(Value::Boolean).unwrap_or_else(|_| Value::String(text.into()))
        }
        Value::Array(_) => {
            Value::Array(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect())
        }
        _ => Value::String(text.into()),
    }
}

/// One step of a dotted key: a table key or an array index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn dotted(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() { "<file>".into() } else { s }
}

/// A document holding only `value` at `path` (earlier members of an array of tables are
/// empty tables, which the schema fills with defaults).
fn alone(path: &[Step], value: &Value) -> Value {
    let mut v = value.clone();
    for step in path.iter().rev() {
        v = match step {
            Step::Key(k) => Value::Table(std::iter::once((k.clone(), v)).collect()),
            Step::Index(i) if v.is_table() => {
                let mut items = vec![Value::Table(Default::default()); *i];
                items.push(v);
                Value::Array(items)
            }
            Step::Index(_) => Value::Array(vec![v]),
        };
    }
    v
}

/// Collects each smallest part of `value` (at `path`) that the schema refuses.
fn probe(path: &mut Vec<Step>, value: &Value, out: &mut Vec<(Vec<Step>, String)>) {
    let Err(e) = ConfigFile::deserialize(alone(path, value)) else { return };
    let before = out.len();
    // An empty table or list here is refused too: the key itself is at fault (unknown, or
    // not a table or list), not what it holds.
    let empty = match value {
        Value::Table(_) => Some(Value::Table(Default::default())),
        Value::Array(_) => Some(Value::Array(Vec::new())),
        _ => None,
    };
    let key_at_fault = empty.is_some_and(|v| ConfigFile::deserialize(alone(path, &v)).is_err());
    match value {
        _ if key_at_fault => {}
        Value::Table(t) => {
            for (k, v) in t {
                path.push(Step::Key(k.clone()));
                probe(path, v, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Step::Index(i));
                probe(path, v, out);
                path.pop();
            }
        }
        _ => {}
    }
    if out.len() == before {
        out.push((path.clone(), reason(e.message().trim())));
    }
}

/// Serde's reason, with an unknown field called what the operator sees: a key.
fn reason(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field ") else { return message.to_string() };
    // "`buad`, expected one of `kind`, `device`, ..."
    let known: Vec<&str> = rest.split('`').skip(3).step_by(2).collect();
    format!("unknown key (known here: {})", known.join(", "))
}

fn remove(doc: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = doc;
    for step in parents {
        let next = match (step, node) {
            (Step::Key(k), Value::Table(t)) => t.get_mut(k),
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        let Some(n) = next else { return };
        node = n;
    }
    match (last, node) {
        (Step::Key(k), Value::Table(t)) => {
            t.remove(k);
        }
        (Step::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}
