//! `kubetrail rules lint`: every problem of a rules document at once, errors and warnings.

use serde::Serialize;

use crate::compile::{compile_documents, definitions_of, parse_document};
use crate::error::DetectError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LintSeverity {
    Error,
    Warning,
}

/// One problem found in a rules document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintFinding {
    /// The rule the finding is about, when it is about one rule.
    pub rule_id: Option<String>,
    pub severity: LintSeverity,
    pub message: String,
}

fn error(rule_id: Option<String>, message: String) -> LintFinding {
    LintFinding {
        rule_id,
        severity: LintSeverity::Error,
        message,
    }
}

fn warning(rule_id: Option<String>, message: String) -> LintFinding {
    LintFinding {
        rule_id,
        severity: LintSeverity::Warning,
        message,
    }
}

fn is_attack_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix('T') else {
        return false;
    };
    let (technique, sub) = match rest.split_once('.') {
        Some((technique, sub)) => (technique, Some(sub)),
        None => (rest, None),
    };
    technique.len() == 4
        && technique.bytes().all(|b| b.is_ascii_digit())
        && sub.is_none_or(|sub| sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a rules document as `RuleSet::from_yaml` would compile it, reporting every error
/// (not only the first) plus warnings: missing ATT&CK ids or description, malformed ATT&CK
/// ids, audit rules without a verb or resource test (evaluated on every event), rules without
/// inline tests that must and must not alert, unused lists and macros.
pub fn lint(text: &str, origin: &str) -> Vec<LintFinding> {
    let document = match parse_document(text, origin) {
        Ok(document) => document,
        Err(parse_error) => return vec![error(None, parse_error.to_string())],
    };
    let library = crate::BUILTIN_FILES
        .iter()
        .map(|(name, text)| parse_document(text, &format!("builtin:{name}")))
        .collect::<Result<Vec<_>, DetectError>>()
        .map(|documents| definitions_of(&documents));
    let library = match library {
        Ok(library) => library,
        Err(builtin_error) => {
            return vec![error(
                None,
                format!("built-in rules are broken: {builtin_error}"),
            )];
        }
    };
    let output = compile_documents(std::slice::from_ref(&document), Some(&library));
    let mut findings: Vec<LintFinding> = output
        .errors
        .into_iter()
        .map(|(rule_id, compile_error)| error(rule_id, compile_error.to_string()))
        .collect();
    for rule in &output.rules {
        let id = Some(rule.info.id.clone());
        if rule.info.attack.is_empty() {
            findings.push(warning(
                id.clone(),
                "no MITRE ATT&CK technique in `attack`".to_owned(),
            ));
        }
        for technique in rule
            .info
            .attack
            .iter()
            .filter(|technique| !is_attack_id(technique))
        {
            findings.push(warning(
                id.clone(),
                format!("`{technique}` is not an ATT&CK technique id like T1609 or T1552.007"),
            ));
        }
        if rule.info.description.is_empty() {
            findings.push(warning(id.clone(), "no description".to_owned()));
        }
        if !rule.tests.iter().any(|test| test.expect > 0) {
            findings.push(warning(
                id.clone(),
                "no inline test that must alert (`tests:` with `expect` > 0)".to_owned(),
            ));
        }
        if !rule.tests.iter().any(|test| test.expect == 0) {
            findings.push(warning(
                id.clone(),
                "no inline test that must not alert (`tests:` with `expect: 0`)".to_owned(),
            ));
        }
        let prefilter = &rule.prefilter;
        if rule.info.source == event::Source::K8sAudit
            && prefilter.verbs.is_none()
            && prefilter.resources.is_none()
        {
            findings.push(warning(
                id,
                "no top-level `verb` or `resource` test: the rule is evaluated on every audit event".to_owned(),
            ));
        }
    }
    for (kind, name) in output.unused {
        findings.push(warning(
            None,
            format!("{kind} `{name}` is not used by any rule"),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_ids_are_recognised() {
        assert!(is_attack_id("T1609"));
        assert!(is_attack_id("T1552.007"));
        assert!(!is_attack_id("T160"));
        assert!(!is_attack_id("1609"));
        assert!(!is_attack_id("T1552.07"));
    }
}
