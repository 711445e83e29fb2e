//! Minimal instances of JSON schemas (OpenAI/Anthropic JSON Schema and Gemini's OpenAPI
//! subset with upper-case types), used for tool-call arguments and JSON-mode answers.
//!
//! The rule: `const`, else the first `enum` value, else the first `anyOf`/`oneOf` branch
//! (`allOf` branches merged), else by type: object → its required properties (every
//! property when `required` is absent), array → `minItems` items, string → the place hint
//! (see `text::place_hint`) or `"x"` (padded to `minLength`; `format`s date, date-time,
//! time, email, uri and uuid get a valid sample), integer/number → `minimum` or 0 clamped
//! to `maximum`, boolean → false, null → null. Local `$ref`s (`#/...`) are followed.

use serde_json::{json, Map, Value};

const MAX_DEPTH: usize = 16;

/// A minimal value that validates against `schema`.
pub(crate) fn instance(schema: &Value, hint: Option<&str>) -> Value {
    Gen { root: schema, hint }.value(schema, 0)
}

struct Gen<'a> {
    root: &'a Value,
    hint: Option<&'a str>,
}

impl Gen<'_> {
    fn value(&self, schema: &Value, depth: usize) -> Value {
        let Some(obj) = schema.as_object() else {
            // `true` / `false` / missing schemas accept anything (or nothing): "x" it is.
            return json!("x");
        };
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(target) = obj.get("$ref").and_then(Value::as_str) {
            if let Some(resolved) = self.resolve(target) {
                return self.value(resolved, depth + 1);
            }
        }
        if let Some(c) = obj.get("const") {
            return c.clone();
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(first) = obj
                .get(key)
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                return self.value(first, depth + 1);
            }
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for branch in all {
                match self.value(branch, depth + 1) {
                    Value::Object(m) => merged.extend(m),
                    other if all.len() == 1 => return other,
                    _ => {}
                }
            }
            return Value::Object(merged);
        }
        match type_of(obj).as_deref() {
            Some("object") => self.object(obj, depth),
            Some("array") => {
                let n = obj
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(64);
                let items = obj.get("items").unwrap_or(&Value::Null);
                Value::Array((0..n).map(|_| self.value(items, depth + 1)).collect())
            }
            Some("string") => self.string(obj),
            Some("integer") => json!(number(obj).round() as i64),
            Some("number") => {
                let n = number(obj);
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    json!(n as i64)
                } else {
                    json!(n)
                }
            }
            Some("boolean") => json!(false),
            Some("null") => Value::Null,
            _ if obj.contains_key("properties") => self.object(obj, depth),
            _ => json!("x"),
        }
    }

    fn object(&self, obj: &Map<String, Value>, depth: usize) -> Value {
        let mut out = Map::new();
        let Some(props) = obj.get("properties").and_then(Value::as_object) else {
            return Value::Object(out);
        };
        match obj.get("required").and_then(Value::as_array) {
            Some(required) => {
                for name in required.iter().filter_map(Value::as_str) {
                    let sub = props.get(name).unwrap_or(&Value::Bool(true));
                    out.insert(name.to_string(), self.value(sub, depth + 1));
                }
            }
            None => {
                for (name, sub) in props {
                    out.insert(name.clone(), self.value(sub, depth + 1));
                }
            }
        }
        Value::Object(out)
    }

    fn string(&self, obj: &Map<String, Value>) -> Value {
        let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = obj
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| m as usize);
        if let Some(format) = obj.get("format").and_then(Value::as_str) {
            let sample = match format {
                "date-time" => Some("2024-01-01T00:00:00Z"),
                "date" => Some("2024-01-01"),
                "time" => Some("00:00:00Z"),
                "email" => Some("x@example.com"),
                "uri" | "url" => Some("https://example.com"),
                "uuid" => Some("00000000-0000-4000-8000-000000000000"),
                _ => None,
            };
            if let Some(s) = sample {
                return json!(s);
            }
        }
        if let Some(hint) = self.hint {
            let len = hint.chars().count();
            if len >= min && max.is_none_or(|m| len <= m) {
                return json!(hint);
            }
        }
        json!("x".repeat(min.max(1).min(max.unwrap_or(usize::MAX).max(min))))
    }

    fn resolve(&self, target: &str) -> Option<&Value> {
        let path = target.strip_prefix('#')?;
        if path.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(path)
    }
}

/// The schema's type, lower-cased (Gemini writes `STRING`); for a list of types, the first
/// that is not `null`.
fn type_of(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("type")? {
        Value::String(t) => Some(t.to_ascii_lowercase()),
        Value::Array(ts) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            names
                .iter()
                .find(|t| !t.eq_ignore_ascii_case("null"))
                .or(names.first())
                .map(|t| t.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The smallest number the schema allows, near zero.
fn number(obj: &Map<String, Value>) -> f64 {
    let mut n = 0.0;
    if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
        n = min;
    }
    if let Some(min) = obj.get("exclusiveMinimum").and_then(Value::as_f64) {
        n = min + 1.0;
    }
    if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
        if n > max {
            n = max;
        }
    }
    if let Some(max) = obj.get("exclusiveMaximum").and_then(Value::as_f64) {
        if n >= max {
            n = max - 1.0;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_instances() {
        let s = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "opt": {"type": "boolean"},
                "when": {"type": ["string", "null"], "format": "date"},
                "ref": {"$ref": "#/$defs/point"}
            },
            "required": ["city", "unit", "days", "tags", "when", "ref"],
            "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}
        });
        assert_eq!(
            instance(&s, Some("Paris")),
            json!({"city": "Paris", "unit": "celsius", "days": 1, "tags": ["Paris"],
                   "when": "2024-01-01", "ref": {"x": 0}})
        );
        let gemini = json!({"type": "OBJECT", "properties": {"n": {"type": "NUMBER"}, "s": {"type": "STRING", "minLength": 3}}});
        assert_eq!(instance(&gemini, None), json!({"n": 0, "s": "xxx"}));
        assert_eq!(instance(&json!({}), None), json!("x"));
        assert_eq!(instance(&json!({"type": "object"}), None), json!({}));
    }
}
