//! The key form's workload identity federation rules: one rule per line, the
//! issuer, the audience and the subject separated by spaces (none of the
//! three holds a space), read into the rules the service checks.

use keygate_core::federation::{FederationRule, FederationRules};

use crate::service::Error;

/// The rules as the form shows them.
pub fn lines(rules: &FederationRules) -> String {
    rules
        .as_slice()
        .iter()
        .map(|r| format!("{} {} {}", r.issuer, r.audience, r.subject))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The typed rules; a line that is not three words is an error naming
/// `federation` and the line.
pub fn rules_of(typed: &str) -> Result<Vec<FederationRule>, Error> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    let lines = typed
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    for (i, line) in lines {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [issuer, audience, subject] => rules.push(FederationRule {
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
                subject: subject.to_owned(),
            }),
            _ => problems.push(format!(
                "Line {}: write the issuer, the audience and the subject, separated by spaces.",
                i + 1
            )),
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(Error::invalid("federation", problems.join("\n")))
    }
}
