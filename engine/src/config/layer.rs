//! Layers: one figment `Provider` per source of values (the defaults, code, one worker.ini
//! section, one environment variable). Values stay strings until validation, and each layer's
//! metadata is named after its [`Source`], so figment's `find_metadata` gives provenance.

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::error::ConfigError;
use super::settings::Source;

/// One value of a layer.
#[derive(Debug, Clone)]
pub(crate) struct LayerEntry {
    /// The canonical key (`polling_interval`, `url`...).
    pub(crate) key: &'static str,
    /// The key as the user wrote it (alias, file spelling), for error messages.
    pub(crate) written: String,
    /// The raw value.
    pub(crate) value: String,
}

/// All values one source gives.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    /// Where the values come from; also the figment metadata name.
    pub(crate) source: Source,
    /// The values; a later entry for the same key replaces an earlier one.
    pub(crate) entries: Vec<LayerEntry>,
}

impl Layer {
    /// An empty layer for `source`.
    pub(crate) fn new(source: Source) -> Layer {
        Layer {
            source,
            entries: Vec::new(),
        }
    }

    /// Adds a value; it replaces any earlier value for the same key.
    pub(crate) fn set(
        &mut self,
        key: &'static str,
        written: impl Into<String>,
        value: impl Into<String>,
    ) {
        self.entries.retain(|e| e.key != key);
        self.entries.push(LayerEntry {
            key,
            written: written.into(),
            value: value.into(),
        });
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.source.to_string())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict = self
            .entries
            .iter()
            .map(|e| (e.key.to_owned(), Value::from(e.value.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// Layers merged in order (later wins), with the lookups validation needs.
#[derive(Debug)]
pub(crate) struct Layered {
    figment: Figment,
    layers: Vec<Layer>,
}

/// A value that won, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The raw value.
    pub(crate) value: String,
    /// The layer that gave it.
    pub(crate) source: Source,
    /// The key as written in that layer.
    pub(crate) written: String,
}

impl Layered {
    /// Merges `layers`, weakest first.
    pub(crate) fn new(layers: Vec<Layer>) -> Layered {
        let figment = layers
            .iter()
            .fold(Figment::new(), |figment, layer| figment.merge(layer));
        Layered { figment, layers }
    }

    /// Extracts the merged strings into a raw struct.
    pub(crate) fn extract<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        Ok(self.figment.extract()?)
    }

    /// Where the winning value of `key` came from; `None` when no layer sets it.
    pub(crate) fn origin(&self, key: &'static str) -> Option<(Source, String)> {
        let name = &self.figment.find_metadata(key)?.name;
        let layer = self
            .layers
            .iter()
            .find(|layer| layer.source.to_string() == *name)?;
        let entry = layer.entries.iter().find(|e| e.key == key)?;
        Some((layer.source.clone(), entry.written.clone()))
    }

    /// The winning value of `key` given its raw extracted value.
    pub(crate) fn found(&self, key: &'static str, value: Option<String>) -> Option<Found> {
        let value = value?;
        let (source, written) = self
            .origin(key)
            .unwrap_or_else(|| (Source::Default, key.to_owned()));
        Some(Found {
            value,
            source,
            written,
        })
    }
}
