//! Worker and server configuration: values from code, `worker.ini` and the environment,
//! layered, validated at start-up, with the source of every value kept.
//!
//! Sources, strongest first: **environment**, then **worker.ini**, then **code**, then
//! **defaults**. The source decides first, so any environment value beats any file value (a
//! global `CONDUCTOR_WORKER_DOMAIN` beats `[task] domain`). Within a source, per-task beats global:
//! `conductor.worker.<task>.<prop>`, `conductor_worker_<task>_<prop>`,
//! `CONDUCTOR_WORKER_<TASK>_<PROP>` beat `conductor.worker.all.<prop>`,
//! `CONDUCTOR_WORKER_ALL_<PROP>`, `conductor_worker_<prop>`, `CONDUCTOR_WORKER_<PROP>` (in that
//! order), and `[task]` beats `[DEFAULT]`. `docs/configuration.md` is the user guide.
//!
//! ```no_run
//! use baton::config::{ConfigSources, WorkerOptions};
//! use std::time::Duration;
//!
//! let sources = ConfigSources::from_process()?;
//! let code = WorkerOptions::default().with_polling_interval(Duration::from_millis(250));
//! let settings = sources.resolve_worker("send_email", &code)?;
//! println!("{}", settings.to_json());
//! # Ok::<(), baton::config::ConfigError>(())
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | `property` | the one table of worker properties (names, aliases, defaults, bounds, docs) |
//! | `options` | values given in code: [`WorkerOptions`], [`ServerOptions`] |
//! | `sources` | [`ConfigSources`]: the environment snapshot and the worker.ini |
//! | `env`, `ini` | how variable names and file keys map to properties |
//! | `layer` | one source's raw values, and the stack the winner is taken from |
//! | `resolve` | the layers of a worker or of the server, and their resolution |
//! | `value` | parsing raw strings into typed, bounded values |
//! | `settings` | the resolved [`WorkerSettings`] / [`ServerSettings`] and their provenance |
//! | `error` | [`ConfigError`] |

mod env;
mod error;
mod ini;
mod layer;
mod options;
mod property;
mod resolve;
mod settings;
mod sources;
mod value;

pub use error::ConfigError;
pub use options::{ServerOptions, WorkerOptions};
pub use property::{WORKER_PROPERTIES, worker_properties_table};
pub use resolve::DEFAULT_SERVER_URL;
pub use settings::{
    ClientIdentity, Provenance, ProxySettings, ServerProvenance, ServerSettings, Source,
    TlsSettings, WorkerSettings, default_worker_id,
};
pub use sources::{ConfigSources, DEFAULT_CONFIG_FILE};

pub(crate) use property::{Prop, worker_properties};
