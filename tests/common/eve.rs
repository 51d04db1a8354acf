//! Every alert a test reads goes through [`alert`]: parsed, and checked against Suricata's
//! EVE schema (`../shared/eve/suricata-eve-schema.json`, the file suricata-verify checks
//! every EVE record against). Without `../shared` the check is skipped outside CI and
//! required in CI, like the shared captures.

use std::sync::OnceLock;

use serde_json::Value;

fn validator() -> Option<&'static jsonschema::Validator> {
    static V: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    V.get_or_init(|| {
        let p = super::repo().join("../shared/eve/suricata-eve-schema.json");
        let Ok(text) = std::fs::read_to_string(&p) else {
            super::required(&format!(
                "{} is missing: alerts not schema-checked",
                p.display()
            ));
            return None;
        };
        let schema: Value = serde_json::from_str(&text).expect("EVE schema is JSON");
        Some(jsonschema::validator_for(&schema).expect("EVE schema compiles"))
    })
    .as_ref()
}

/// Why `v` is not a valid EVE record, if it is not (every schema error, one per line).
pub fn errors(v: &Value) -> Option<String> {
    let errs: Vec<String> = validator()?
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    (!errs.is_empty()).then(|| errs.join("\n"))
}

/// One alert line, parsed; panics naming the line when it is not JSON or not valid EVE.
pub fn alert(line: &str) -> Value {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    if let Some(e) = errors(&v) {
        panic!("alert is not valid EVE:\n{e}\n{line}");
    }
    v
}

/// (rule, key) of every alert in the JSONL `file`, each checked against the EVE schema.
pub fn rule_keys(file: &std::path::Path) -> std::collections::BTreeSet<(String, String)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let j = alert(l);
            let key = super::key_of(&j).as_str().unwrap_or("").to_string();
            (j["alert"]["rule"].as_str().unwrap().to_string(), key)
        })
        .collect()
}
