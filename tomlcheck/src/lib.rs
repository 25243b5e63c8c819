//! Every problem of a TOML configuration at once, each with its key.
//!
//! Serde stops at the first problem; an operator wants them all. [`deserialize_all`] also
//! deserializes every key of the document on its own (in a document holding nothing else,
//! which the schema's defaults complete): each smallest part that fails alone is reported
//! as an [`Issue`] with its dotted path (`motes[1].psk`) and serde's reason, left out, and
//! the rest is still deserialized, so that the caller can validate what the values mean
//! together and report that too ([`Deserialized::validation_issues`]).
//!
//! It works for schemas whose every key has a default (`#[serde(default)]`): a required
//! key would make every document of one key fail. Keys that must be given are checked by
//! the caller's validation, which names them like any other problem.
//!
//! Used by `lowpan-br`'s configuration and the IoTSSP's. Pure: a parsed document in,
//! values and issues out; no file access, never panics.

use core::fmt;

use serde::de::DeserializeOwned;
use toml::Value;

/// One thing wrong with a configuration: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The dotted TOML path (`iotssp[1].address`), or `<file>` for the document as a whole.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// What [`deserialize_all`] made of a document.
#[derive(Debug)]
pub struct Deserialized<T> {
    /// The schema filled with what was accepted (refused keys took their defaults); `None`
    /// when even that failed (then `issues` says why, under `<file>`).
    pub value: Option<T>,
    /// The keys the schema refused, in document order.
    pub issues: Vec<Issue>,
}

impl<T> Deserialized<T> {
    /// `more` (what validation found) without what concerns a refused key: that key took
    /// its default, so what validation says about it, or about what it contains, repeats
    /// or misleads.
    pub fn validation_issues(&self, more: Vec<Issue>) -> impl Iterator<Item = Issue> + '_ {
        more.into_iter()
            .filter(|i| !self.issues.iter().any(|r| covers(&r.key, &i.key)))
    }
}

/// Deserializes `doc` into `T`, finding every key `T` refuses (see the crate documentation).
pub fn deserialize_all<T: DeserializeOwned>(doc: toml::Table) -> Deserialized<T> {
    let mut refused = Vec::new();
    probe::<T>(&mut Vec::new(), &Value::Table(doc.clone()), &mut refused);
    let mut doc = Value::Table(doc);
    // Highest indices first, so that removing one does not move the next.
    for (path, _) in refused.iter().rev() {
        remove(&mut doc, path);
    }
    let mut issues: Vec<Issue> = refused
        .into_iter()
        .map(|(p, reason)| Issue {
            key: dotted(&p),
            reason,
        })
        .collect();
    let value = match T::deserialize(doc) {
        Ok(v) => Some(v),
        Err(e) => {
            issues.push(Issue {
                key: "<file>".into(),
                reason: e.to_string(),
            });
            None
        }
    };
    Deserialized { value, issues }
}

/// Whether `outer` names `inner` or something that contains it, or the other way round.
pub fn covers(outer: &str, inner: &str) -> bool {
    inner == outer
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
        || outer
            .strip_prefix(inner)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
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
fn probe<T: DeserializeOwned>(
    path: &mut Vec<Step>,
    value: &Value,
    out: &mut Vec<(Vec<Step>, String)>,
) {
    let Err(e) = T::deserialize(alone(path, value)) else {
        return;
    };
    let before = out.len();
    // An empty table or list here is refused too: the key itself is at fault (unknown, or
    // not a table or list), not what it holds.
    let empty = match value {
        Value::Table(_) => Some(Value::Table(Default::default())),
        Value::Array(_) => Some(Value::Array(Vec::new())),
        _ => None,
    };
    let key_at_fault = empty.is_some_and(|v| T::deserialize(alone(path, &v)).is_err());
    match value {
        _ if key_at_fault => {}
        Value::Table(t) => {
            for (k, v) in t {
                path.push(Step::Key(k.clone()));
                probe::<T>(path, v, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Step::Index(i));
                probe::<T>(path, v, out);
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
    let Some(rest) = message.strip_prefix("unknown field ") else {
        return message.to_string();
    };
    // "`buad`, expected one of `kind`, `device`, ..."
    let known: Vec<&str> = rest.split('`').skip(3).step_by(2).collect();
    format!("unknown key (known here: {})", known.join(", "))
}

fn remove(doc: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Schema {
        name: String,
        port: u16,
        items: Vec<Item>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Item {
        id: u32,
        label: String,
    }

    fn run(text: &str) -> Deserialized<Schema> {
        deserialize_all(toml::from_str(text).unwrap())
    }

    #[test]
    fn every_refused_key_is_reported_and_the_rest_is_kept() {
        let d = run(
            "name = 3\nport = 80\nprot = 1\n[[items]]\nid = 1\n[[items]]\nid = \"x\"\nlabel = \"b\"\n",
        );
        let keys: Vec<&str> = d.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["items[1].id", "name", "prot"]);
        assert!(
            d.issues[2]
                .reason
                .starts_with("unknown key (known here: name, port, items"),
            "{}",
            d.issues[2]
        );
        let v = d.value.unwrap();
        assert_eq!((v.name.as_str(), v.port, v.items.len()), ("", 80, 2));
        assert_eq!(
            v.items[1],
            Item {
                id: 0,
                label: "b".into()
            }
        );
    }

    #[test]
    fn a_key_that_is_not_a_table_is_one_issue() {
        let d = run("items = 5\nport = 70000\n");
        let keys: Vec<&str> = d.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["items", "port"]);
        assert!(d.value.is_some());
    }

    #[test]
    fn validation_issues_about_refused_keys_are_left_out() {
        let d = run("port = \"x\"\n[[items]]\nid = -1\n");
        let more = vec![
            Issue {
                key: "port".into(),
                reason: "must not be 0".into(),
            },
            Issue {
                key: "items[0]".into(),
                reason: "id 0".into(),
            },
            Issue {
                key: "name".into(),
                reason: "must be given".into(),
            },
        ];
        let kept: Vec<String> = d.validation_issues(more).map(|i| i.key).collect();
        assert_eq!(kept, ["name"]);
        assert!(
            covers("items", "items[0].id")
                && covers("items[0].id", "items")
                && !covers("item", "items")
        );
    }
}
