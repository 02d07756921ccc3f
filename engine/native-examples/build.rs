//! Compiles the native code of the examples, `cpp/checked_sum.cpp`, twice: into a static
//! library linked into every target of this package (the FFI worker), and into a shared
//! library in `OUT_DIR` that the dynamic-loading worker opens at run time. Its path is
//! exported to the crate as `BATON_NATIVE_SUM_LIB`. Both need a C++ compiler (g++ or clang++;
//! `CXX` chooses, as the `cc` crate documents).

use std::path::PathBuf;
use std::process::Command;

/// The file name of the shared library, in `OUT_DIR`.
const SHARED_LIBRARY: &str = "libbaton_native_sum.so";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=cpp/checked_sum.cpp");

    // Static: libchecked_sum.a, linked in along with the C++ standard library.
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .file("cpp/checked_sum.cpp")
        .compile("checked_sum");

    // Shared: the compiler `cc` chose for this target, with its flags, asked for a `.so`.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let library = out_dir.join(SHARED_LIBRARY);
    let compiler = cc::Build::new()
        .cpp(true)
        .std("c++17")
        .warnings(true)
        .extra_warnings(true)
        .get_compiler();
    let mut command: Command = compiler.to_command();
    command
        .args(["-shared", "-fPIC", "-Werror", "-o"])
        .arg(&library)
        .arg("cpp/checked_sum.cpp");
    let status = command.status()?;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}").into());
    }
    println!("cargo:rustc-env=BATON_NATIVE_SUM_LIB={}", library.display());
    Ok(())
}
