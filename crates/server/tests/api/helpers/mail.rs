//! Mail the server wrote as .eml files under `<data dir>/mail/` (no
//! `--smtp-url`), and the links in it.

use std::time::Duration;

use super::{TestApp, eventually};

impl TestApp {
    /// The newest link containing `path_part` (e.g. `/app/invitations/`) in a
    /// mail to `to` written as an .eml file under `<data dir>/mail/` (no
    /// `--smtp-url`); waits up to 10 s for the dispatcher. The token is
    /// remembered for the log check.
    pub async fn mailed_link(&self, to: &str, path_part: &str) -> String {
        let what = format!("a mail to {to} with a link containing {path_part}");
        let link = eventually(&what, Duration::from_secs(10), async || {
            let mut files: Vec<_> = std::fs::read_dir(self.data_dir.join("mail"))
                .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            files.sort();
            files
                .iter()
                .rev()
                .find_map(|f| {
                    let raw = std::fs::read_to_string(f).unwrap_or_default();
                    let to_line = raw
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                        .unwrap_or("");
                    if !to_line.to_lowercase().contains(&to.to_lowercase()) {
                        return None;
                    }
                    link_in(&raw, path_part)
                })
                .ok_or_else(|| format!("{} mails", files.len()))
        })
        .await;
        self.remember(link.rsplit('/').next().unwrap_or(""));
        link
    }
}

/// The last link containing `path_part` in a raw mail (quoted-printable soft
/// line breaks undone).
pub fn link_in(raw: &str, path_part: &str) -> Option<String> {
    let text = raw
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .rfind(|w| w.starts_with("http") && w.contains(path_part))
        .map(str::to_owned)
}
