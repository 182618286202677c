//! How `keyward keys` and `keyward users` print an answer for people: a table for a list,
//! `field: value` lines for one record, the busy buckets of a usage window. `--json` prints the
//! API's answer instead, for scripts.

use serde_json::Value;

/// How one command's answer (its `data`) is written as text.
pub type Render = fn(&Value) -> String;

/// A list of keys.
pub fn keys(data: &Value) -> String {
    let rows = items(data).map(|key| {
        vec![
            cell(&key["id"]),
            cell(&key["name"]),
            cell(&key["type"]),
            cell(&key["state"]),
            cell(&key["permissions"]),
            time(&key["last_used_at_ms"]),
        ]
    });
    table(&["ID", "NAME", "TYPE", "STATE", "PERMISSIONS", "LAST USED"], rows.collect())
}

/// A list of users.
pub fn users(data: &Value) -> String {
    let rows = items(data).map(|user| {
        vec![
            cell(&user["id"]),
            cell(&user["username"]),
            cell(&user["state"]),
            cell(&user["permissions"]),
        ]
    });
    table(&["ID", "USERNAME", "STATE", "PERMISSIONS"], rows.collect())
}

/// One record: a line per field, by name, times as dates.
pub fn record(data: &Value) -> String {
    let Some(fields) = data.as_object() else { return format!("{}\n", cell(data)) };
    let width = fields.keys().map(String::len).max().unwrap_or(0);
    fields
        .iter()
        .map(|(name, value)| {
            let shown = if name.ends_with("_ms") { time(value) } else { cell(value) };
            format!("{name:width$}  {shown}\n")
        })
        .collect()
}

/// A key just made or rotated: its record, and a word that its secret (or plain key) is shown
/// this once.
pub fn issued(data: &Value) -> String {
    let shown = match (&data["key"], &data["secret"]) {
        (Value::String(_), _) => "key (keyward keeps only its digest)",
        (_, Value::String(_)) => "secret (not shown again; keys:reveal can read it)",
        _ => return record(data),
    };
    format!("{}\nKeep the {shown} now: it is shown this once.\n", record(data))
}

/// A key's usage (its buckets) or a domain's (totals, then its busiest keys).
pub fn usage(data: &Value) -> String {
    if data.is_array() {
        let busy = items(data).filter(|bucket| requests(bucket) > 0);
        let rows = busy.map(|bucket| {
            vec![
                time(&bucket["start_ms"]),
                cell(&bucket["accepted"]),
                cell(&bucket["refused"]),
                cell(&bucket["by_code"]),
            ]
        });
        let mut text = table(&["FROM", "ACCEPTED", "REFUSED", "REFUSED BY CODE"], rows.collect());
        let (accepted, refused) = items(data).fold((0, 0), |(a, r), bucket| {
            (a + count(&bucket["accepted"]), r + count(&bucket["refused"]))
        });
        text.push_str(&format!("in all: {accepted} accepted, {refused} refused\n"));
        return text;
    }
    let rows = items(&data["keys"]).map(|key| {
        vec![
            cell(&key["key_id"]),
            cell(&key["name"]),
            cell(&key["accepted"]),
            cell(&key["refused"]),
        ]
    });
    format!(
        "{} to {}, by {}: {} accepted, {} refused ({})\n{}",
        time(&data["since_ms"]),
        time(&data["until_ms"]),
        cell(&data["bucket"]),
        count(&data["accepted"]),
        count(&data["refused"]),
        cell(&data["by_code"]),
        table(&["KEY", "NAME", "ACCEPTED", "REFUSED"], rows.collect())
    )
}

fn items(data: &Value) -> impl Iterator<Item = &Value> {
    data.as_array().into_iter().flatten()
}

fn count(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

fn requests(bucket: &Value) -> u64 {
    count(&bucket["accepted"]) + count(&bucket["refused"])
}

/// A value as a cell: text as is, a list joined by commas, `-` for none.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(fields) if fields.is_empty() => "-".to_owned(),
        Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| format!("{name}: {}", cell(value)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Epoch ms as an RFC 3339 time (UTC), `-` for none.
fn time(value: &Value) -> String {
    match value.as_i64().and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_seconds(at).to_string()
        }
        None => cell(value),
    }
}

/// `rows` under `headers`, each column as wide as its widest cell.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "(none)\n".to_owned();
    }
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(headers.to_vec());
    for row in &rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_list_is_a_table_whose_columns_line_up() {
        let data = json!([
            {"id": 1, "name": "Billing", "type": "hmac", "state": "active", "permissions": ["a:b", "c:d"], "last_used_at_ms": 0},
            {"id": 12, "name": "Ä", "type": "api-key", "state": "revoked", "permissions": [], "last_used_at_ms": null},
        ]);
        let text = super::keys(&data);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID  NAME     TYPE     STATE    PERMISSIONS  LAST USED");
        assert_eq!(lines[1], "1   Billing  hmac     active   a:b, c:d     1970-01-01T00:00:00Z");
        assert_eq!(lines[2], "12  Ä        api-key  revoked  -            -");
        assert_eq!(super::users(&json!([])), "(none)\n");
    }

    #[test]
    fn an_issued_secret_is_said_to_be_shown_once() {
        let text = super::issued(&json!({"id": 7, "key": "kwapi_x"}));
        assert!(text.ends_with(
            "Keep the key (keyward keeps only its digest) now: it is shown this once.\n"
        ));
        assert_eq!(super::issued(&json!({"id": 7})), super::record(&json!({"id": 7})));
    }

    #[test]
    fn a_record_is_a_line_per_field_and_usage_its_busy_buckets() {
        let text = super::record(&json!({"id": 7, "secret": "kwsec_x", "expires_at_ms": 60_000}));
        let expected =
            "expires_at_ms  1970-01-01T00:01:00Z\nid             7\nsecret         kwsec_x\n";
        assert_eq!(text, expected, "fields by name, times as dates");
        let buckets = json!([
            {"start_ms": 0, "accepted": 0, "refused": 0, "by_code": {}},
            {"start_ms": 60_000, "accepted": 3, "refused": 2, "by_code": {"12": 2}},
        ]);
        let text = super::usage(&buckets);
        assert!(text.contains("1970-01-01T00:01:00Z  3         2        12: 2"), "{text}");
        assert!(!text.contains("00:00:00Z"), "empty buckets are left out: {text}");
        assert!(text.ends_with("in all: 3 accepted, 2 refused\n"), "{text}");
    }
}
