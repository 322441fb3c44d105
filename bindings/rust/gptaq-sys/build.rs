//! Finds libgptaq: `GPTAQ_LIB_DIR` (a directory holding libgptaq.so) first, else
//! `pkg-config --variable=libdir gptaq` (run as a program: no crates). Emits the link
//! search path, the dylib, an rpath for this crate's own tests, and `lib_dir` metadata
//! (DEP_GPTAQ_LIB_DIR for dependents, which use it to set their own rpath).
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn from_pkg_config() -> Option<PathBuf> {
    let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(["--variable=libdir", "gptaq"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if dir.is_empty() {
        None
    } else {
        Some(PathBuf::from(dir))
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=GPTAQ_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-changed=build.rs");

    let dir = match env::var_os("GPTAQ_LIB_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => from_pkg_config(),
    };
    match dir {
        Some(dir) => {
            let dir = dir.canonicalize().unwrap_or(dir);
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            println!("cargo:lib_dir={}", dir.display());
        }
        None => {
            println!(
                "cargo:warning=libgptaq not found: set GPTAQ_LIB_DIR or make `pkg-config gptaq` \
                 work (PKG_CONFIG_PATH); trying the system linker path"
            );
        }
    }
    println!("cargo:rustc-link-lib=dylib=gptaq");
}
