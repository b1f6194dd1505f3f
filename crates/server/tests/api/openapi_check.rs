//! Every JSON answer a test receives through `TestApp::send` is held against
//! `/openapi.json`: the status must be declared for its path and method, and
//! the body must validate against that response's schema. So the document
//! cannot drift from what the API does without some test failing.
//!
//! A small JSON Schema check, enough for what utoipa writes: `$ref`, `type`
//! (one or a list), `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `items`, `oneOf`, `anyOf`, `allOf`. Formats and
//! numeric bounds are not checked.

use serde_json::Value;

/// Why an answer does not match the document, or `Ok` when it does or the
/// document does not describe this path and method (pages, proxied calls).
pub fn check(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    json: bool,
    body: &Value,
) -> Result<(), String> {
    let Some(op) = operation(doc, method, path) else {
        return Ok(());
    };
    let responses = &op["responses"];
    let range = format!("{}XX", status / 100);
    let declared = [status.to_string(), range, "default".to_owned()]
        .into_iter()
        .find_map(|k| responses.get(&k));
    let Some(declared) = declared else {
        return Err(format!(
            "status {status} is not declared (declared: {:?})",
            responses.as_object().map(|o| o.keys().collect::<Vec<_>>())
        ));
    };
    let declared = resolve(doc, declared);
    let schema = &declared["content"]["application/json"]["schema"];
    if !json || body.is_null() || schema.is_null() {
        return Ok(());
    }
    let mut errors = Vec::new();
    validate(doc, schema, body, "body", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("status {status}: {}", errors.join("; ")))
    }
}

/// The operation of the document for this concrete path: literal segments
/// before `{templated}` ones, one segment per template.
fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    let method = method.to_ascii_lowercase();
    let segs: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &Value)> = None;
    for (template, item) in doc["paths"].as_object()? {
        let t: Vec<&str> = template.split('/').collect();
        if t.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = t.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(n, _)| literal > n) {
            best = Some((literal, item));
        }
    }
    best.and_then(|(_, item)| item.get(&method))
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.trim_start_matches('#');
            resolve(doc, doc.pointer(pointer).unwrap_or(&Value::Null))
        }
        None => v,
    }
}

fn type_fits(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

/// Adds to `errors` each place where `v` does not fit `schema`.
pub fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if schema.as_bool() == Some(true) || schema.is_null() {
        return;
    }
    let fits = |s: &Value| {
        let mut e = Vec::new();
        validate(doc, s, v, at, &mut e);
        e.is_empty()
    };
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            validate(doc, s, v, at, errors);
        }
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let n = one.iter().filter(|s| fits(s)).count();
        if n != 1 {
            errors.push(format!(
                "{at}: {v} fits {n} of the {} oneOf schemas",
                one.len()
            ));
            return;
        }
    }
    if let Some(any) = schema["anyOf"].as_array()
        && !any.iter().any(fits)
    {
        errors.push(format!("{at}: {v} fits none of the anyOf schemas"));
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_fits(t, v)) {
        errors.push(format!("{at}: {} is not of type {types:?}", short(v)));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        errors.push(format!("{at}: {} is not one of {allowed:?}", short(v)));
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errors.push(format!("{at}: {} is not {c}", short(v)));
    }
    if let Some(obj) = v.as_object() {
        let props = schema["properties"].as_object();
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or("");
            if !obj.contains_key(name) {
                errors.push(format!("{at}: required field {name} is missing"));
            }
        }
        for (k, field) in obj {
            let here = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(doc, s, field, &here, errors),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => {
                        errors.push(format!("{here}: not in the schema"));
                    }
                    s if s.is_object() => validate(doc, s, field, &here, errors),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
        for (i, item) in list.iter().enumerate() {
            validate(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}
