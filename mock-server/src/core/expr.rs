//! `${...}` expressions in task inputs and workflow outputs, resolved as the server's
//! ParametersUtils does (conductor-api.md §7.5).
//!
//! - A string that is exactly one `${path}` becomes the referenced value with its JSON type.
//! - References embedded in longer strings are replaced by their text (strings as they are,
//!   `null` as `"null"`, anything else as JSON); `$${` is a literal `${`.
//! - A path is a root (`workflow` or a task reference name) followed by a JSONPath-like tail:
//!   `.name` segments and `[n]` indexes. Anything unresolvable gives `null`, never an error.

use std::collections::HashMap;

use baton_model::JsonMap;
use serde_json::Value;

/// Resolves roots (`workflow`, task reference names) to JSON values, memoized per resolution.
pub(crate) struct Resolver<F> {
    root: F,
    memo: HashMap<String, Option<Value>>,
}

impl<F: FnMut(&str) -> Option<Value>> Resolver<F> {
    /// A resolver whose roots come from `root`.
    pub(crate) fn new(root: F) -> Self {
        Self {
            root,
            memo: HashMap::new(),
        }
    }

    /// Every value of `params` resolved.
    pub(crate) fn map(&mut self, params: &JsonMap) -> JsonMap {
        params
            .iter()
            .map(|(key, value)| (key.clone(), self.value(value)))
            .collect()
    }

    /// `value` with every expression inside it resolved (objects and arrays recursively).
    pub(crate) fn value(&mut self, value: &Value) -> Value {
        match value {
            Value::String(text) => self.string(text),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(self.map(map)),
            other => other.clone(),
        }
    }

    fn string(&mut self, text: &str) -> Value {
        if !text.contains("${") {
            return Value::String(text.to_owned());
        }
        if let Some(path) = whole_expression(text) {
            return self.path(path).unwrap_or(Value::Null);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${")
                && let Some(end) = after.find('}')
            {
                match self.path(&after[..end]) {
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => out.push_str("null"),
                }
                rest = &after[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Value::String(out)
    }

    /// The value at `path` (`root.rest...`), if any.
    fn path(&mut self, path: &str) -> Option<Value> {
        let path = path.trim();
        let split = path.find(['.', '[']).unwrap_or(path.len());
        let (root, tail) = path.split_at(split);
        if !self.memo.contains_key(root) {
            let value = (self.root)(root);
            self.memo.insert(root.to_owned(), value);
        }
        let mut current = self.memo.get(root)?.as_ref()?;
        for segment in segments(tail)? {
            current = match segment {
                Segment::Key(key) => current.get(key)?,
                Segment::Index(index) => current.get(index)?,
            };
        }
        (!current.is_null()).then(|| current.clone())
    }
}

/// The path inside `text` when `text` is exactly one `${path}`.
fn whole_expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains('}') && !inner.contains("${")).then_some(inner)
}

/// One step of a path tail.
#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `.a.b[2]['c']` into segments; `None` when malformed.
fn segments(mut tail: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    while !tail.is_empty() {
        if let Some(rest) = tail.strip_prefix('.') {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            out.push(Segment::Key(&rest[..end]));
            tail = &rest[end..];
        } else if let Some(rest) = tail.strip_prefix('[') {
            let end = rest.find(']')?;
            let inside = rest[..end].trim();
            let quoted = inside
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            match quoted {
                Some(key) => out.push(Segment::Key(key)),
                None => out.push(Segment::Index(inside.parse().ok()?)),
            }
            tail = &rest[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// The roots of every `${...}` reference inside `value` (for registration-time validation),
/// with the full expression text.
pub(crate) fn references(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(at) = rest.find('$') {
                let tail = &rest[at..];
                if let Some(after) = tail.strip_prefix("$${") {
                    rest = after;
                } else if let Some(after) = tail.strip_prefix("${")
                    && let Some(end) = after.find('}')
                {
                    let path = after[..end].trim();
                    let root = &path[..path.find(['.', '[']).unwrap_or(path.len())];
                    out.push((root.to_owned(), path.to_owned()));
                    rest = &after[end + 1..];
                } else {
                    rest = &tail[1..];
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        Value::Object(map) => map.values().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(value: Value) -> Value {
        let roots = json!({
            "workflow": {"input": {"file": "a.mp4", "n": 3, "list": [10, {"deep": "x"}]},
                         "workflowId": "wf-1"},
            "enc": {"output": {"url": "s3://b", "size": 7, "meta": null}}
        });
        let mut resolver = Resolver::new(|root: &str| roots.get(root).cloned());
        resolver.value(&value)
    }

    #[test]
    fn a_whole_expression_keeps_the_json_type() {
        assert_eq!(resolve(json!("${workflow.input.n}")), json!(3));
        assert_eq!(
            resolve(json!("${enc.output}")),
            json!({"url": "s3://b", "size": 7, "meta": null})
        );
        assert_eq!(resolve(json!("${workflow.input.list[1].deep}")), json!("x"));
        assert_eq!(resolve(json!("${workflow.input.list[0]}")), json!(10));
        assert_eq!(resolve(json!("${workflow.input['file']}")), json!("a.mp4"));
    }

    #[test]
    fn embedded_references_concatenate_and_escapes_stay_literal() {
        assert_eq!(
            resolve(json!(
                "${workflow.workflowId}/${enc.output.size}/${enc.output.nope}"
            )),
            json!("wf-1/7/null")
        );
        assert_eq!(
            resolve(json!("cost $${x} for ${workflow.input.n}")),
            json!("cost ${x} for 3")
        );
        assert_eq!(resolve(json!("$5 and $")), json!("$5 and $"));
    }

    #[test]
    fn unresolvable_paths_give_null_and_structures_resolve_recursively() {
        assert_eq!(resolve(json!("${missing.output.x}")), Value::Null);
        assert_eq!(resolve(json!("${workflow.input.list[9]}")), Value::Null);
        assert_eq!(resolve(json!("${workflow.input..x}")), Value::Null);
        assert_eq!(resolve(json!("${enc.output.meta}")), Value::Null);
        assert_eq!(
            resolve(
                json!({"a": ["${workflow.input.n}", 1, true], "b": {"c": "${enc.output.url}"}})
            ),
            json!({"a": [3, 1, true], "b": {"c": "s3://b"}})
        );
    }

    #[test]
    fn references_list_every_root() {
        let mut out = Vec::new();
        references(
            &json!({"a": "${x.output.y} and ${workflow.input.z}", "b": ["$${no}", "${q[0]}"]}),
            &mut out,
        );
        let roots: Vec<&str> = out.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roots, ["x", "workflow", "q"]);
    }
}
