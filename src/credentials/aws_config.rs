//! `credential_process` lines in `~/.aws/config`, edited byte for byte as
//! [`super::shared_file`] edits the credentials file: one key of one section is set or removed
//! and every other byte (comments, other profiles, line endings) stays.

use super::shared_file::{key_of, section_name};

/// The section header of a profile in the config file (`default`, else `profile NAME`).
pub fn section_for(profile: &str) -> String {
    if profile == "default" {
        "default".into()
    } else {
        format!("profile {profile}")
    }
}

/// `text` with `key = value` in `[section]`, added (with the section) when missing. The value
/// must hold no line break or bracket; callers pass values they built.
pub fn set_key(text: &str, section: &str, key: &str, value: &str) -> String {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(text.len() + value.len() + 32);
    let mut in_target = false;
    let mut found = false;
    let mut written = false;
    for line in text.split_inclusive('\n') {
        if let Some(name) = section_name(line) {
            if in_target && !written {
                out.push_str(&format!("{key} = {value}{newline}"));
                written = true;
            }
            in_target = name == section;
            found |= in_target;
        } else if in_target && key_of(line).as_deref() == Some(key) {
            if !written {
                let ending = if line.ends_with("\r\n") {
                    "\r\n"
                } else if line.ends_with('\n') {
                    "\n"
                } else {
                    ""
                };
                out.push_str(&format!("{key} = {value}{ending}"));
                written = true;
            }
            continue;
        }
        out.push_str(line);
    }
    if !written {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline);
        }
        if !found {
            if !out.is_empty() {
                out.push_str(newline);
            }
            out.push_str(&format!("[{section}]{newline}"));
        }
        out.push_str(&format!("{key} = {value}{newline}"));
    }
    out
}

/// The value of `key` in `[section]`, if set.
pub fn get_key(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_target = false;
    for line in text.lines() {
        if let Some(name) = section_name(line) {
            in_target = name == section;
        } else if in_target && key_of(line).as_deref() == Some(key) {
            return line.split_once('=').map(|(_, v)| v.trim().to_owned());
        }
    }
    None
}

/// `text` without `key` in `[section]`; the section goes too when nothing but blank lines
/// is left in it.
pub fn remove_key(text: &str, section: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<(String, String)> = None;
    let mut in_target = false;
    let flush = |out: &mut String, pending: &mut Option<(String, String)>| {
        if let Some((header, body)) = pending.take() {
            if !body.trim().is_empty() {
                out.push_str(&header);
                out.push_str(&body);
            } else {
                // The blank line that separated the section from the one before goes too.
                // The blank lines it held still separate what comes after.
                for separator in ["\r\n", "\n"] {
                    if out.ends_with(&format!("{separator}{separator}")) {
                        out.truncate(out.len() - separator.len());
                        break;
                    }
                }
                out.push_str(&body);
            }
        }
    };
    for line in text.split_inclusive('\n') {
        if let Some(name) = section_name(line) {
            flush(&mut out, &mut pending);
            in_target = name == section;
            if in_target {
                pending = Some((line.to_owned(), String::new()));
                continue;
            }
        } else if in_target {
            if key_of(line).as_deref() != Some(key) {
                if let Some((_, body)) = pending.as_mut() {
                    body.push_str(line);
                }
            }
            continue;
        }
        out.push_str(line);
    }
    flush(&mut out, &mut pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_or_adds_and_keeps_every_other_byte() {
        let before = "# mine\r\n[default]\r\nregion = eu-west-1\r\n[profile dev]\r\noutput=json\r\ncredential_process = old\r\n";
        assert_eq!(
            set_key(before, "profile dev", "credential_process", "tessera credential-process --profile dev"),
            "# mine\r\n[default]\r\nregion = eu-west-1\r\n[profile dev]\r\noutput=json\r\ncredential_process = tessera credential-process --profile dev\r\n"
        );
        assert_eq!(
            set_key("[a]\nx = 1", "profile dev", "k", "v"),
            "[a]\nx = 1\n\n[profile dev]\nk = v\n"
        );
        assert_eq!(set_key("", "default", "k", "v"), "[default]\nk = v\n");
        assert_eq!(
            set_key("[default]\nx = 1\n[b]\n", "default", "k", "v"),
            "[default]\nx = 1\nk = v\n[b]\n"
        );
    }

    #[test]
    fn remove_drops_the_key_and_an_emptied_section_only() {
        let text = "[a]\nx = 1\n\n[profile dev]\ncredential_process = t\n\n[profile keep]\ncredential_process = t\nregion = r\n";
        let once = remove_key(text, "profile dev", "credential_process");
        assert_eq!(
            once,
            "[a]\nx = 1\n\n[profile keep]\ncredential_process = t\nregion = r\n"
        );
        assert_eq!(
            remove_key(&once, "profile keep", "credential_process"),
            "[a]\nx = 1\n\n[profile keep]\nregion = r\n"
        );
        assert_eq!(
            get_key(text, "profile keep", "region").as_deref(),
            Some("r")
        );
    }
}
