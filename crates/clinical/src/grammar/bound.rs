//! An upper bound on the length of the JSON a schema admits, which bounds
//! the tokens a constrained decoder can emit: every token the grammar
//! allows carries at least one byte.

use serde_json::Value;

/// The most bytes one character of a JSON string can take under
/// [`super::Grammars`]' options: raw UTF-8 is at most 4 bytes, and with
/// `\uXXXX` escapes disallowed an escape is 2.
pub(super) const BYTES_PER_CHAR: usize = 4;

/// The most bytes of compact JSON (no whitespace) that `schema` admits, or
/// `None` where it admits unboundedly long JSON or uses keywords this does
/// not follow (numbers, `anyOf`, `$ref`, `patternProperties`, open
/// objects, strings without `maxLength`, arrays without `maxItems`).
///
/// Every property is counted as present, and every string at its
/// `maxLength` in 4-byte characters, so real output is far shorter: this is
/// a guarantee, not an estimate.
pub fn max_json_bytes(schema: &Value) -> Option<usize> {
    bound(schema, BYTES_PER_CHAR)
}

fn bound(schema: &Value, bytes_per_char: usize) -> Option<usize> {
    let s = schema.as_object()?;
    let dumped_len = |v: &Value| serde_json::to_string(v).ok().map(|t| t.len());
    if let Some(values) = s.get("enum") {
        return values.as_array()?.iter().map(dumped_len).max()?;
    }
    if let Some(value) = s.get("const") {
        return dumped_len(value);
    }
    const UNFOLLOWED: [&str; 8] = [
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "if",
        "$ref",
        "patternProperties",
        "prefixItems",
    ];
    if UNFOLLOWED.iter().any(|k| s.contains_key(*k)) {
        return None;
    }
    let count = |key: &str| -> Option<usize> { s.get(key)?.as_u64()?.try_into().ok() };
    match s.get("type")?.as_str()? {
        "null" => Some(4),
        "boolean" => Some(5),
        "string" => count("maxLength")?
            .checked_mul(bytes_per_char)?
            .checked_add(2),
        "array" => {
            let n = count("maxItems")?;
            let item = bound(s.get("items")?, bytes_per_char)?;
            // [item,item,…]: n items and n - 1 commas between the brackets.
            n.checked_mul(item.checked_add(1)?)?
                .checked_add(1)
                .map(|b| b.max(2))
        }
        "object" => {
            if s.get("additionalProperties") != Some(&Value::Bool(false)) {
                return None;
            }
            let empty = serde_json::Map::new();
            let properties = match s.get("properties") {
                Some(p) => p.as_object()?,
                None => &empty,
            };
            // Required names without a schema would be unconstrained.
            if let Some(required) = s.get("required") {
                let listed = |n: &Value| n.as_str().is_some_and(|n| properties.contains_key(n));
                if !required.as_array()?.iter().all(listed) {
                    return None;
                }
            }
            // {"key":value,"key":value}: the braces, each quoted key and
            // its colon and value, and a comma between members.
            let mut total = 2 + properties.len().saturating_sub(1);
            for (key, value) in properties {
                total = total
                    .checked_add(dumped_len(&Value::from(key.as_str()))? + 1)?
                    .checked_add(bound(value, bytes_per_char)?)?;
            }
            Some(total)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_add_up() {
        let s = json!({"type": "string", "maxLength": 3});
        assert_eq!(max_json_bytes(&s), Some(2 + 12));
        let a = json!({"type": "array", "maxItems": 2, "items": {"enum": ["ab", "c"]}});
        assert_eq!(max_json_bytes(&a), Some(r#"["ab","ab"]"#.len()));
        let a0 = json!({"type": "array", "maxItems": 0, "items": {"type": "boolean"}});
        assert_eq!(max_json_bytes(&a0), Some(2));
        let o = json!({"type": "object", "additionalProperties": false,
            "properties": {"k": {"type": "boolean"}, "n": {"type": "null"}}});
        assert_eq!(max_json_bytes(&o), Some(r#"{"k":false,"n":null}"#.len()));
        let e = json!({"type": "object", "additionalProperties": false});
        assert_eq!(max_json_bytes(&e), Some(2));
    }

    #[test]
    fn unbounded_schemas_have_no_bound() {
        for s in [
            json!({"type": "string"}),
            json!({"type": "number"}),
            json!({"type": "array", "items": {"type": "null"}}),
            json!({"type": "object", "properties": {}}),
            json!({"type": "object", "additionalProperties": false, "required": ["x"]}),
            json!({"anyOf": [{"type": "null"}]}),
            json!(true),
        ] {
            assert_eq!(max_json_bytes(&s), None, "{s}");
        }
    }
}
