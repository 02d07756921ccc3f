//! Layers: the raw values one source gives (the defaults, code, one worker.ini section, one
//! environment variable), and the stack they are resolved from. Values stay strings until
//! validation; each layer carries its typed [`Source`], so the winner's provenance is exact.

use super::settings::Source;

/// One value of a layer.
#[derive(Debug, Clone)]
struct LayerEntry<K> {
    /// The setting it gives.
    key: K,
    /// The key as the user wrote it (alias, file spelling, variable name), for error messages.
    written: String,
    /// The raw value.
    value: String,
}

/// All values one source gives, keyed by `K` (a worker property or a server setting).
#[derive(Debug, Clone)]
pub(crate) struct Layer<K> {
    /// Where the values come from.
    source: Source,
    /// The values; at most one per key.
    entries: Vec<LayerEntry<K>>,
}

impl<K: Copy + Eq> Layer<K> {
    /// An empty layer for `source`.
    pub(crate) fn new(source: Source) -> Self {
        Self {
            source,
            entries: Vec::new(),
        }
    }

    /// Adds a value; it replaces any earlier value for the same key.
    pub(crate) fn set(&mut self, key: K, written: impl Into<String>, value: impl Into<String>) {
        self.entries.retain(|e| e.key != key);
        self.entries.push(LayerEntry {
            key,
            written: written.into(),
            value: value.into(),
        });
    }

    /// Whether this layer sets `key`.
    pub(crate) fn contains(&self, key: K) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// The value this layer gives for `key`, with its provenance.
    fn get(&self, key: K) -> Option<Found> {
        let entry = self.entries.iter().find(|e| e.key == key)?;
        Some(Found {
            value: entry.value.clone(),
            source: self.source.clone(),
            written: entry.written.clone(),
        })
    }
}

/// A value that won, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The raw value.
    pub(crate) value: String,
    /// The layer that gave it.
    pub(crate) source: Source,
    /// The key as written in that layer.
    pub(crate) written: String,
}

/// Layers in order of strength, weakest first: for each key the last layer that sets it wins.
#[derive(Debug)]
pub(crate) struct Layers<K> {
    layers: Vec<Layer<K>>,
}

impl<K: Copy + Eq> Layers<K> {
    /// Stacks `layers`, weakest first.
    pub(crate) fn new(layers: Vec<Layer<K>>) -> Self {
        Self { layers }
    }

    /// The winning value of `key`; `None` when no layer sets it.
    pub(crate) fn find(&self, key: K) -> Option<Found> {
        self.layers.iter().rev().find_map(|layer| layer.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::{Layer, Layers, Source};

    #[test]
    fn the_strongest_layer_that_sets_a_key_wins() {
        let mut weak = Layer::new(Source::Default);
        weak.set("a", "a", "1");
        weak.set("b", "b", "2");
        let mut strong = Layer::new(Source::Env("B".into()));
        strong.set("b", "B", "3");
        strong.set("b", "B", "4");
        let layers = Layers::new(vec![weak, strong]);
        let a = layers.find("a").unwrap();
        assert_eq!((a.value.as_str(), &a.source), ("1", &Source::Default));
        let b = layers.find("b").unwrap();
        assert_eq!(b.value, "4");
        assert_eq!(b.source, Source::Env("B".into()));
        assert_eq!(b.written, "B");
        assert_eq!(layers.find("c"), None);
    }
}
