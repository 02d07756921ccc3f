//! worker.ini: reading the file with rust-ini the way Python's configparser sees it
//! (case-insensitive keys, case-sensitive section names, `[DEFAULT]` for every task).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use super::error::ConfigError;
use super::property::Prop;

/// The section whose values apply to every task.
pub(crate) const DEFAULT_SECTION: &str = "DEFAULT";

/// One `key = value` line of a section.
#[derive(Debug, Clone)]
pub(crate) struct IniEntry {
    /// The key as written in the file.
    pub(crate) key: String,
    /// The property it sets and whether it used the alias; `None` for an unknown key.
    pub(crate) prop: Option<(Prop, bool)>,
    /// The value, trimmed, unparsed.
    pub(crate) value: String,
}

/// One `[section]`.
#[derive(Debug, Clone)]
pub(crate) struct IniSection {
    /// The section name, as written (case-sensitive).
    pub(crate) name: String,
    /// Its entries, in file order.
    pub(crate) entries: Vec<IniEntry>,
}

/// A parsed worker.ini.
#[derive(Debug, Clone)]
pub(crate) struct IniFile {
    /// The file, as it was named.
    pub(crate) path: PathBuf,
    /// Its sections, in file order.
    pub(crate) sections: Vec<IniSection>,
}

/// Why a file could not be loaded; `NotFound` is separate so an absent default file is fine.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// The file does not exist.
    NotFound,
    /// Any other problem, already described.
    Other(ConfigError),
}

impl IniFile {
    /// Reads and parses `path`.
    pub(crate) fn load(path: &Path) -> Result<IniFile, LoadError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(LoadError::NotFound);
            }
            Err(source) => {
                return Err(LoadError::Other(ConfigError::FileUnreadable {
                    path: path.to_owned(),
                    source,
                }));
            }
        };
        let file = IniFile::parse(path, &text).map_err(LoadError::Other)?;
        for (section, key) in file.unknown_keys() {
            tracing::warn!(
                file = %path.display(),
                section = %section,
                key = %key,
                "unknown key in worker.ini is ignored"
            );
        }
        Ok(file)
    }

    /// Parses INI text; `path` only names the file in errors and sources.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<IniFile, ConfigError> {
        let malformed = |line: Option<usize>, message: String| ConfigError::FileMalformed {
            path: path.to_owned(),
            line,
            message,
        };
        // configparser keeps quotes and backslashes literally.
        let options = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            ..ParseOption::default()
        };
        let ini = Ini::load_from_str_opt(text, options)
            .map_err(|err| malformed(Some(err.line), err.msg.into_owned()))?;

        let mut sections: Vec<IniSection> = Vec::new();
        for (name, props) in &ini {
            let Some(name) = name else {
                if props.is_empty() {
                    continue;
                }
                return Err(malformed(
                    None,
                    "key before the first [section] header".to_owned(),
                ));
            };
            if sections.iter().any(|s| s.name == name) {
                return Err(malformed(None, format!("duplicate section [{name}]")));
            }
            let mut seen = HashSet::new();
            let mut entries = Vec::new();
            for (key, value) in props {
                // rust-ini folds a line without a separator into the next key; configparser
                // rejects such a line.
                if let Some((line, _)) = key.split_once('\n') {
                    return Err(malformed(
                        None,
                        format!("line `{line}` in section [{name}] has no `=` or `:`"),
                    ));
                }
                let lower = key.to_lowercase();
                if !seen.insert(lower.clone()) {
                    return Err(malformed(
                        None,
                        format!("duplicate key `{key}` in section [{name}]"),
                    ));
                }
                entries.push(IniEntry {
                    key: key.to_owned(),
                    prop: Prop::from_lower(&lower),
                    value: value.trim().to_owned(),
                });
            }
            sections.push(IniSection {
                name: name.to_owned(),
                entries,
            });
        }
        Ok(IniFile {
            path: path.to_owned(),
            sections,
        })
    }

    /// The section named exactly `name`, if present.
    pub(crate) fn section(&self, name: &str) -> Option<&IniSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// `(section, key)` for every key that is not a known property or alias.
    pub(crate) fn unknown_keys(&self) -> Vec<(String, String)> {
        self.sections
            .iter()
            .flat_map(|s| {
                s.entries
                    .iter()
                    .filter(|e| e.prop.is_none())
                    .map(|e| (s.name.clone(), e.key.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{IniFile, Prop};
    use crate::config::ConfigError;

    #[test]
    fn keys_are_case_insensitive_and_sections_are_not() {
        let text = "[DEFAULT]\nPolling_Interval = 250\n\n[My_Task]\nTHREAD_COUNT: 3\nfoo = bar\n";
        let file = IniFile::parse(Path::new("w.ini"), text);
        let Ok(file) = file else {
            panic!("parses: {file:?}");
        };
        let default = file.section("DEFAULT").map(|s| s.entries.clone());
        let Some(default) = default else {
            panic!("has [DEFAULT]");
        };
        assert_eq!(default[0].prop, Some((Prop::PollingInterval, false)));
        assert_eq!(default[0].value, "250");
        assert!(file.section("my_task").is_none());
        let task = file.section("My_Task").map(|s| s.entries.clone());
        let Some(task) = task else {
            panic!("has [My_Task]");
        };
        assert_eq!(task[0].prop, Some((Prop::Concurrency, true)));
        let multi = IniFile::parse(
            Path::new("w.ini"),
            "[t]\ndomain = x ; not a comment\n  more\n",
        );
        let Ok(multi) = multi else {
            panic!("parses: {multi:?}");
        };
        assert_eq!(
            multi.sections[0].entries[0].value,
            "x ; not a comment\nmore"
        );
        assert_eq!(
            file.unknown_keys(),
            vec![("My_Task".to_owned(), "foo".to_owned())]
        );
    }

    #[test]
    fn configparser_rejects_are_malformed() {
        for text in [
            "domain = x\n",
            "[a]\ndomain = x\nDOMAIN = y\n",
            "[a]\ndomain = x\n[a]\npaused = on\n",
            "[a\ndomain = x\n",
            "[a]\nfoo\ndomain = x\n",
            "[a]\ndomain = x\nfoo",
        ] {
            let result = IniFile::parse(Path::new("w.ini"), text);
            assert!(
                matches!(result, Err(ConfigError::FileMalformed { .. })),
                "{text:?} gave {result:?}"
            );
        }
    }
}
