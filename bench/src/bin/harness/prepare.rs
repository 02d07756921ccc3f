//! Getting the programs ready: the workspace's release binaries (built, then copied into
//! `target/harness/bin` so a rebuild elsewhere cannot swap them mid-run), the Rust
//! conductor-sdk peer (its own workspace, built into `target/harness/rust-sdk`), and a venv
//! with the pinned Python SDKs (`target/harness/venv`), plus Baton's Python package when the
//! repository has one.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::configs::{BATON_PYTHON_SCRIPT, Needs};

/// Why something could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A command could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command failed.
    #[error("{command} failed ({status}): {output}")]
    Failed {
        /// The command.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of its output.
        output: String,
    },
    /// A file could not be copied or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A prerequisite is absent (the configurations that need it are skipped).
    #[error("{0}")]
    Absent(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrepareError + '_ {
    move |source| PrepareError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Runs `command`, failing with the end of its output when it fails.
fn run(command: &mut Command) -> Result<(), PrepareError> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|source| PrepareError::Spawn {
        command: shown.clone(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    Err(PrepareError::Failed {
        command: shown,
        status: output.status,
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

/// The places the harness uses.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The repository root.
    pub root: PathBuf,
    /// Cargo's target directory (`CARGO_TARGET_DIR`, else `<root>/target`).
    pub target: PathBuf,
    /// `<target>/harness`.
    pub harness: PathBuf,
}

impl Layout {
    /// The layout of the repository this binary was built from.
    pub fn discover() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|dir| {
                if dir.is_relative() {
                    root.join(dir)
                } else {
                    dir
                }
            })
            .unwrap_or_else(|| root.join("target"));
        let harness = target.join("harness");
        Self {
            root,
            target,
            harness,
        }
    }

    /// Where the copied binaries are.
    pub fn bin(&self) -> PathBuf {
        self.harness.join("bin")
    }

    /// The venv's python.
    pub fn python(&self) -> PathBuf {
        self.harness.join("venv").join("bin").join("python")
    }
}

/// The workspace binaries the harness runs.
const WORKSPACE_BINARIES: [&str; 3] = ["baton-mock", "ceiling_loop", "baton_worker"];

/// Builds the workspace binaries (release) and copies them into `<harness>/bin`.
pub fn workspace(layout: &Layout) -> Result<(), PrepareError> {
    run(cargo(&layout.root)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "baton-mock",
            "-p",
            "baton-bench",
        ])
        .args(WORKSPACE_BINARIES.iter().flat_map(|b| ["--bin", b])))?;
    copy_binaries(
        &layout.target.join("release"),
        &layout.bin(),
        &WORKSPACE_BINARIES,
    )
}

/// Builds the Rust conductor-sdk peer in its own workspace and copies its binary.
pub fn rust_sdk(layout: &Layout) -> Result<(), PrepareError> {
    let target = layout.harness.join("rust-sdk");
    run(cargo(&layout.root)
        .args(["build", "--release", "-q", "--manifest-path"])
        .arg(layout.root.join("bench/peers/rust-sdk/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target))?;
    copy_binaries(&target.join("release"), &layout.bin(), &["rust-sdk-peer"])
}

/// A cargo command without the variables `cargo run` sets for the harness itself (the
/// package's name, manifest and so on): build scripts that watch them would otherwise see a
/// change and rebuild.
fn cargo(root: &Path) -> Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(program);
    command.current_dir(root);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_run = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
            || key == "CARGO_PRIMARY_PACKAGE"
            || key == "OUT_DIR";
        if set_by_cargo_run {
            command.env_remove(key.as_ref());
        }
    }
    command
}

fn copy_binaries(from: &Path, to: &Path, names: &[&str]) -> Result<(), PrepareError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for name in names {
        let source = from.join(name);
        let dest = to.join(name);
        // Copy to a temporary name, then rename: a running copy is never overwritten in place.
        let temporary = to.join(format!(".{name}.new"));
        std::fs::copy(&source, &temporary).map_err(io(&source))?;
        std::fs::rename(&temporary, &dest).map_err(io(&dest))?;
    }
    Ok(())
}

/// Makes the venv and installs the pinned SDKs (tests/python/requirements.txt, the same pins
/// as the SDK interop test) unless this requirements file is already installed.
pub fn python_sdks(layout: &Layout) -> Result<(), PrepareError> {
    let venv = layout.harness.join("venv");
    let python = layout.python();
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|err| {
            PrepareError::Absent(format!("no Python venv (python3 -m venv): {err}"))
        })?;
    }
    let requirements = layout.root.join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).map_err(io(&requirements))?;
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(&requirements))
        .map_err(|err| PrepareError::Absent(format!("pip could not install the SDKs: {err}")))?;
        std::fs::write(&stamp, &wanted).map_err(io(&stamp))?;
    }
    Ok(())
}

/// Installs `bindings/python` into the venv, when the repository has the package and its
/// benchmark script.
pub fn baton_python(layout: &Layout) -> Result<(), PrepareError> {
    let package = layout.root.join("bindings/python");
    if !package.join("pyproject.toml").is_file() {
        return Err(PrepareError::Absent(
            "baton_conductor is not in this tree (no bindings/python/pyproject.toml)".into(),
        ));
    }
    if !layout.root.join(BATON_PYTHON_SCRIPT).is_file() {
        return Err(PrepareError::Absent(format!(
            "bindings/python has no benchmark worker ({BATON_PYTHON_SCRIPT})"
        )));
    }
    python_sdks(layout)?;
    // The package is here: an install that fails is a failure, not a missing prerequisite.
    run(Command::new(layout.python())
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
        .arg(&package))
}

/// Prepares what `need` asks for.
pub fn prepare(layout: &Layout, need: Needs) -> Result<(), PrepareError> {
    match need {
        Needs::Workspace => workspace(layout),
        Needs::RustSdk => rust_sdk(layout),
        Needs::PythonSdks => python_sdks(layout),
        Needs::BatonPython => baton_python(layout),
    }
}
