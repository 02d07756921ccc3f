//! A shared library opened at run time with `libloading`, and its `get_sum` function: the
//! Rust counterpart of the Conductor Python SDK's `cdll.LoadLibrary(path).get_sum(a, b)`.
//!
//! The build script compiles `cpp/checked_sum.cpp` into [`BUILT_LIBRARY`]; any library that
//! exports `int32_t get_sum(int32_t, int32_t)` with C linkage can be loaded instead.

use std::path::{Path, PathBuf};

/// The shared library the build script compiled (in Cargo's `OUT_DIR`, so on the machine
/// that built the program; elsewhere give a path with `--library`).
pub const BUILT_LIBRARY: &str = env!("BATON_NATIVE_SUM_LIB");

/// The C signature of `get_sum`: `int32_t get_sum(int32_t, int32_t)`.
type GetSum = unsafe extern "C" fn(i32, i32) -> i32;

/// A shared library could not be loaded, or lacks `get_sum`.
#[derive(Debug, thiserror::Error)]
#[error("cannot load get_sum from {}: {}", path.display(), describe(source))]
pub struct LoadError {
    /// The library's path.
    pub path: PathBuf,
    /// What the dynamic loader said.
    #[source]
    pub source: libloading::Error,
}

/// The loader's error with its detail (libloading keeps `dlerror()`'s text in the source).
fn describe(error: &libloading::Error) -> String {
    match std::error::Error::source(error) {
        Some(detail) => format!("{error}: {detail}"),
        None => error.to_string(),
    }
}

/// An open shared library and its `get_sum`.
#[derive(Debug)]
pub struct SumLibrary {
    /// `get_sum` in `library`; valid while `library` is open, which it is for as long as this
    /// value lives.
    get_sum: GetSum,
    /// The open library; closed when this value is dropped.
    _library: libloading::Library,
    /// Where it was loaded from.
    path: PathBuf,
}

impl SumLibrary {
    /// Opens the shared library at `path` and looks up `get_sum` in it.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref().to_owned();
        let error = |source| LoadError {
            path: path.clone(),
            source,
        };
        // SAFETY: opening a library runs its initializers. The libraries this is meant for
        // (cpp/checked_sum.cpp, or one built to the same contract) have none beyond the C++
        // runtime's, which are sound to run on any thread.
        let library = unsafe { libloading::Library::new(&path) }.map_err(error)?;
        // SAFETY: `GetSum` is the C signature of `get_sum` in the libraries this is meant for
        // (see the module's documentation). The pointer is copied out of the `Symbol` and kept
        // next to `library`, which this value keeps open for as long as the pointer lives.
        let get_sum = unsafe { library.get::<GetSum>(b"get_sum") }
            .map(|symbol| *symbol)
            .map_err(error)?;
        Ok(Self {
            get_sum,
            _library: library,
            path,
        })
    }

    /// `a + b`, computed by the library's `get_sum`. In the built library, a sum that does not
    /// fit in an `i32` **aborts the process** (SIGABRT).
    pub fn get_sum(&self, a: i32, b: i32) -> i32 {
        // SAFETY: `self.get_sum` points into `self.library`, which is open while `self` lives;
        // the function takes two integers by value and reads no memory of ours (its contract,
        // see `load`), so any arguments are sound.
        unsafe { (self.get_sum)(a, b) }
    }

    /// Where the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_library_loads_and_adds() {
        let library = SumLibrary::load(BUILT_LIBRARY).unwrap();
        assert_eq!(library.get_sum(40, 2), 42);
        assert_eq!(library.get_sum(i32::MIN, 0), i32::MIN);
        assert_eq!(library.path(), Path::new(BUILT_LIBRARY));
    }

    #[test]
    fn a_missing_library_is_an_error_naming_it() {
        let err = SumLibrary::load("/nonexistent/libnothing.so").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/libnothing.so"),
            "{err}"
        );
    }
}
