//! The environment a build step sees, as BuildKit's `llb.EnvList` keeps it.
//!
//! Setting a key that already exists moves it to the end: this order is what a RUN
//! step's `env` prints, so it must match BuildKit's, even though the image config's
//! `Env` (kept separately) replaces values in place.

use crate::shell::EnvGetter;

/// An ordered list of `KEY=value` pairs with BuildKit's replacement order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EnvList {
    entries: Vec<(String, String)>,
}

impl EnvList {
    /// Sets `key`, moving it to the end.
    pub(crate) fn add_or_replace(&mut self, key: &str, value: &str) {
        self.entries.retain(|(k, _)| k != key);
        self.entries.push((key.to_owned(), value.to_owned()));
    }

    /// Sets `key` only when unset.
    pub(crate) fn set_default(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() {
            self.entries.push((key.to_owned(), value.to_owned()));
        }
    }

    /// `KEY=value` strings in order.
    pub(crate) fn to_vec(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

impl EnvGetter for EnvList {
    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.entries.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// An environment overlay: `top` shadows `base`. Used to show `****` for secrets
/// passed as variables in progress names.
pub(crate) struct Overlay<'a> {
    pub(crate) top: &'a EnvList,
    pub(crate) base: &'a dyn EnvGetter,
}

impl EnvGetter for Overlay<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.top.get(key).or_else(|| self.base.get(key))
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .base
            .keys()
            .into_iter()
            .filter(|k| self.top.get(k).is_none())
            .collect();
        keys.extend(self.top.keys());
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_moves_the_key_to_the_end() {
        let mut env = EnvList::default();
        env.add_or_replace("A", "1");
        env.add_or_replace("B", "2");
        env.add_or_replace("A", "3");
        assert_eq!(env.to_vec(), vec!["B=2", "A=3"]);
        env.set_default("B", "x");
        env.set_default("C", "4");
        assert_eq!(env.to_vec(), vec!["B=2", "A=3", "C=4"]);
        assert_eq!(env.get("A"), Some("3"));
        assert_eq!(env.keys(), vec!["B", "A", "C"]);
    }

    #[test]
    fn overlay_shadows() {
        let mut base = EnvList::default();
        base.add_or_replace("S", "secret");
        base.add_or_replace("K", "v");
        let mut top = EnvList::default();
        top.add_or_replace("S", "****");
        let overlay = Overlay {
            top: &top,
            base: &base,
        };
        assert_eq!(overlay.get("S"), Some("****"));
        assert_eq!(overlay.get("K"), Some("v"));
        assert_eq!(overlay.keys(), vec!["K", "S"]);
    }
}
