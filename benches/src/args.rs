//! A tiny `--flag value` parser, so the harness needs no CLI crate.

use std::str::FromStr;

/// Command-line arguments, consumed flag by flag; [`Args::finish`] rejects
/// whatever is left over.
#[derive(Debug)]
pub struct Args {
    items: Vec<Option<String>>,
}

impl Args {
    /// Wraps the arguments after the program name (and any subcommand).
    pub fn new(items: impl IntoIterator<Item = String>) -> Self {
        Args {
            items: items.into_iter().map(Some).collect(),
        }
    }

    /// `--name` present (and removes it).
    pub fn flag(&mut self, name: &str) -> bool {
        let mut found = false;
        for item in self.items.iter_mut() {
            if item.as_deref() == Some(name) {
                *item = None;
                found = true;
            }
        }
        found
    }

    /// `--name VALUE` or `--name=VALUE`, parsed; the last occurrence wins.
    pub fn value<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        let mut raw: Option<String> = None;
        let prefix = format!("{name}=");
        let mut i = 0;
        while i < self.items.len() {
            match self.items[i].as_deref() {
                Some(s) if s == name => {
                    self.items[i] = None;
                    match self.items.get_mut(i + 1).and_then(Option::take) {
                        Some(v) => raw = Some(v),
                        None => return Err(format!("{name} needs a value")),
                    }
                    i += 1;
                }
                Some(s) if s.starts_with(&prefix) => {
                    raw = Some(s[prefix.len()..].to_string());
                    self.items[i] = None;
                }
                _ => {}
            }
            i += 1;
        }
        match raw {
            None => Ok(None),
            Some(v) => v
                .parse::<T>()
                .map(Some)
                .map_err(|e| format!("{name} {v:?}: {e}")),
        }
    }

    /// Like [`Args::value`] with a default.
    pub fn value_or<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        Ok(self.value(name)?.unwrap_or(default))
    }

    /// The first remaining argument that does not start with `-`.
    pub fn positional(&mut self) -> Option<String> {
        for item in self.items.iter_mut() {
            if item.as_deref().is_some_and(|s| !s.starts_with('-')) {
                return item.take();
            }
        }
        None
    }

    /// Errors if any argument was not consumed.
    pub fn finish(self) -> Result<(), String> {
        let left: Vec<String> = self.items.into_iter().flatten().collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected argument(s): {}", left.join(" ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_values() {
        let mut a = Args::new(
            ["--conns", "16", "--verify", "--size=64", "extra"]
                .iter()
                .map(|s| s.to_string()),
        );
        assert!(a.flag("--verify"));
        assert!(!a.flag("--json"));
        assert_eq!(a.value::<usize>("--conns").unwrap(), Some(16));
        assert_eq!(a.value::<usize>("--size").unwrap(), Some(64));
        assert_eq!(a.value_or::<f64>("--secs", 2.5).unwrap(), 2.5);
        assert_eq!(a.positional().as_deref(), Some("extra"));
        a.finish().unwrap();
    }

    #[test]
    fn rejects_leftovers_and_bad_values() {
        let mut a = Args::new(["--conns", "x"].iter().map(|s| s.to_string()));
        assert!(a.value::<usize>("--conns").is_err());
        let a = Args::new(["--nope"].iter().map(|s| s.to_string()));
        assert!(a.finish().is_err());
    }
}
