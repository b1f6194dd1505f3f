//! The key form's allowlist: one network per line, every bad line named by
//! its number, before the service checks the list as a whole (and the
//! organization's key policy).

use keygate_core::Networks;
use keygate_core::network::Cidr;

use crate::service::Error;
use crate::service::keys::KeyTerms;
use crate::ui::key_terms::sentence;
use crate::ui::routes::keys::form::FormValues;

impl FormValues {
    /// The allowlist's lines that hold something, with their line numbers
    /// (1-based, as the textarea shows them).
    fn network_lines(&self) -> Vec<(usize, &str)> {
        self.networks
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty())
            .collect()
    }

    /// The key fields of the form: the allowlist, every line checked. An
    /// error names `allowed_networks` and lists each bad line.
    pub fn terms(&self) -> Result<KeyTerms, Error> {
        let lines = self.network_lines();
        let problems = network_problems(&lines);
        if !problems.is_empty() {
            return Err(Error::invalid("allowed_networks", problems.join("\n")));
        }
        Ok(KeyTerms {
            allowed_networks: Some(lines.iter().map(|(_, l)| (*l).to_owned()).collect()),
            expires_at: None,
            require_dpop: Some(self.require_dpop),
            credits: Some(self.credits.value()),
            federation: Some(super::federation::rules_of(&self.federation)?),
        })
    }
}

/// Every bad line of an allowlist, as "Line 3: why".
fn network_problems(lines: &[(usize, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    if lines.len() > Networks::MAX {
        out.push(format!(
            "At most {} networks per key ({} entered).",
            Networks::MAX,
            lines.len()
        ));
    }
    let mut seen: Vec<(Cidr, usize)> = Vec::new();
    for (n, line) in lines {
        match Cidr::parse(line) {
            Err(why) => out.push(format!("Line {n}: {}", sentence(&why))),
            Ok(c) => match seen.iter().find(|(s, _)| *s == c) {
                Some((_, first)) => out.push(format!("Line {n}: {c} is already on line {first}.")),
                None => seen.push((c, *n)),
            },
        }
    }
    out
}
