//! Rule reload: which rules of a new rule file keep the window state of the running ones.
//!
//! In: the running [`RuleSet`] and a freshly parsed one. Out: the new set with its specs
//! formed so that kept rules never share a spec with new or changed ones, and a [`Carry`]
//! telling each stage which old spec and rule indices live on under which new ones.
//! Guarantees: a rule is kept only when everything that decides its alerts is unchanged
//! (same id, grouping, filter, windows, condition, overrides, baseline, the alert fields,
//! and the rules it yields to, which must be kept too); a kept rule's spec holds only kept rules from one old spec, so its state
//! (panes, distinct sets, cooldowns, baselines) is exactly what it would have been without
//! the reload. Changed and new rules start with empty state.

use super::{parse::build_specs, Rule, RuleSet};

/// How state moves from the old rule set to the new one.
#[derive(Clone, Debug, Default)]
pub struct Carry {
    /// Per old spec: the new spec that takes its state (`None`: dropped).
    pub spec_of_old: Vec<Option<usize>>,
    /// Per old rule: its index in the new set, when kept.
    pub rule_of_old: Vec<Option<u16>>,
    /// Ids of the rules kept with their state, started fresh (changed or new), removed.
    pub kept: Vec<String>,
    pub fresh: Vec<String>,
    pub removed: Vec<String>,
}

impl Carry {
    /// One line for the log: how many rules kept, started fresh and removed, and which.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                String::new()
            } else {
                format!(" ({})", v.join(", "))
            }
        };
        format!(
            "{} kept with their windows, {} started fresh{}, {} removed{}",
            self.kept.len(),
            self.fresh.len(),
            list(&self.fresh),
            self.removed.len(),
            list(&self.removed)
        )
    }
}

/// The new rule set, re-specced against the running one, and how state carries over.
pub fn rebase(old: &RuleSet, mut new: RuleSet) -> (RuleSet, Carry) {
    let mut origin: Vec<Option<usize>> = new
        .rules
        .iter()
        .map(|r| {
            old.rules
                .iter()
                .find(|o| o.id == r.id && same_rule(o, old, r, &new))
                .map(|o| o.spec)
        })
        .collect();
    // A rule that yields to a changed one is changed too: what holds it back starts fresh.
    // (A rule that yields cannot be yielded to, so this does not cascade.)
    for i in 0..new.rules.len() {
        if new.rules[i].yields_to.iter().any(|&y| origin[y].is_none()) {
            origin[i] = None;
        }
    }
    new.specs = build_specs(&mut new.rules, &origin);
    let mut carry = Carry {
        spec_of_old: vec![None; old.specs.len()],
        rule_of_old: vec![None; old.rules.len()],
        ..Default::default()
    };
    for (i, r) in new.rules.iter().enumerate() {
        match origin[i] {
            Some(s) => {
                carry.spec_of_old[s] = Some(r.spec);
                if let Some(j) = old.rules.iter().position(|o| o.id == r.id) {
                    carry.rule_of_old[j] = Some(i as u16);
                }
                carry.kept.push(r.id.clone());
            }
            None => carry.fresh.push(r.id.clone()),
        }
    }
    carry.removed = old
        .rules
        .iter()
        .filter(|o| new.rule(&o.id).is_none())
        .map(|o| o.id.clone())
        .collect();
    (new, carry)
}

/// Whether rule `a` (of `ar`) and rule `b` (of `br`) are the same rule: every field but
/// the line and the indices, which move with the file (yields compare by rule id).
fn same_rule(a: &Rule, ar: &RuleSet, b: &Rule, br: &RuleSet) -> bool {
    fn plain(r: &Rule, rs: &RuleSet) -> (String, Vec<String>) {
        let yields = r
            .yields_to
            .iter()
            .map(|&y| rs.rules[y].id.clone())
            .collect();
        let r = Rule {
            spec: 0,
            line: 0,
            yields_to: Vec::new(),
            ..r.clone()
        };
        (format!("{r:?}"), yields)
    }
    plain(a, ar) == plain(b, br)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules;

    const OLD: &str = r#"
[[rule]]
id = "a"
window = "10s"
condition = "packets > 100"

[[rule]]
id = "b"
window = "10s"
condition = "syn > 50"

[[rule]]
id = "gone"
filter = { proto = "udp" }
window = "5s"
condition = "distinct_dst_ports > 10"
"#;

    fn set(t: &str) -> RuleSet {
        parse_rules(t, "t.toml").unwrap()
    }

    #[test]
    fn kept_rules_keep_their_spec_apart_from_changed_ones() {
        let old = set(OLD);
        // `b` changed, `c` new with the same filter, `a` moved down a line, `gone` gone.
        let text = r#"
[[rule]]
id = "c"
window = "10s"
condition = "bytes > 1000"

[[rule]]
id = "b"
window = "10s"
condition = "syn > 60"


[[rule]]
id = "a"
window = "10s"
condition = "packets > 100"
"#;
        let (new, carry) = rebase(&old, set(text));
        assert_eq!(carry.kept, vec!["a"]);
        assert_eq!(carry.fresh, vec!["c", "b"]);
        assert_eq!(carry.removed, vec!["gone"]);
        let a = new.rules.iter().position(|r| r.id == "a").unwrap();
        let (b, c) = (1, 0);
        assert_eq!(carry.rule_of_old, vec![Some(a as u16), None, None]);
        // a's spec is its own; b and c (fresh, same filter) share one.
        assert_ne!(new.rules[a].spec, new.rules[b].spec);
        assert_eq!(new.rules[b].spec, new.rules[c].spec);
        assert_eq!(new.specs[new.rules[a].spec].rules, vec![a]);
        let old_a = old.rule("a").unwrap().spec;
        assert_eq!(carry.spec_of_old[old_a], Some(new.rules[a].spec));
        assert_eq!(carry.spec_of_old[old.rule("gone").unwrap().spec], None);
    }

    #[test]
    fn the_same_file_keeps_everything() {
        let old = set(OLD);
        let (new, carry) = rebase(&old, set(OLD));
        assert_eq!(carry.kept.len(), 3);
        assert!(carry.fresh.is_empty() && carry.removed.is_empty());
        assert_eq!(new.specs.len(), old.specs.len());
        assert!(carry.spec_of_old.iter().all(Option::is_some));
    }

    #[test]
    fn a_rule_yielding_to_a_changed_rule_starts_fresh() {
        let text = r#"
[[rule]]
id = "a"
window = "10s"
cooldown = "10s"
condition = "packets > 100"

[[rule]]
id = "y"
window = "10s"
yield_to = ["a"]
condition = "syn > 5"
"#;
        let old = set(text);
        let (_, carry) = rebase(&old, set(&text.replace("> 100", "> 200")));
        assert_eq!(carry.fresh, vec!["a", "y"]);
        let (_, carry) = rebase(&old, set(&text.replace("> 5", "> 6")));
        assert_eq!(
            (carry.kept, carry.fresh),
            (vec!["a".into()], vec!["y".into()])
        );
    }

    #[test]
    fn any_change_that_decides_alerts_starts_fresh() {
        let old = set(OLD);
        for (from, to) in [
            ("window = \"5s\"", "window = \"10s\""),
            ("proto = \"udp\"", "proto = \"tcp\""),
            ("distinct_dst_ports > 10", "distinct_dst_ports > 11"),
        ] {
            let (_, carry) = rebase(&old, set(&OLD.replace(from, to)));
            assert_eq!(carry.fresh, vec!["gone"], "{from} -> {to}");
        }
    }
}
