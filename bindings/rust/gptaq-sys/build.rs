//! Finds libgptaq and links it so that every binary built on this crate runs without
//! `LD_LIBRARY_PATH`, including binaries of crates that depend on it only indirectly.
//!
//! Where the library is looked for, in order:
//!  1. `GPTAQ_LIB_DIR`: a directory holding `libgptaq.so` (a build tree or a prefix's lib/);
//!  2. `pkg-config gptaq` (the `pkg-config` program, or `$PKG_CONFIG`; honours
//!     `PKG_CONFIG_PATH`): its `libdir` variable;
//!  3. otherwise the linker's default path (a system install).
//!
//! Why not only an rpath: `cargo:rustc-link-arg` applies to this package's own targets,
//! never to the binaries of dependents (checked with cargo 1.95), so a program depending on
//! the `gptaq` crate would not get it. For a library outside the loader's default
//! directories this script therefore links through a generated link stub: a tiny shared
//! object defining the API's symbols whose SONAME is the absolute path of the real
//! library's SONAME file (e.g. `/opt/gptaq/lib/libgptaq.so.0.1`). The linker records that
//! path as the binary's DT_NEEDED entry, and the dynamic loader opens a DT_NEEDED entry
//! containing a slash directly, without any search path. The stub is used only at link
//! time and never loaded. An rpath is still emitted for this crate's own tests.
//!
//! `GPTAQ_LINK_MODE` chooses explicitly: `stub` (the default for non-system directories),
//! `rpath` (only `-rpath` for this package's own targets, and by-name linking; dependents
//! then need `LD_LIBRARY_PATH` or their own rpath, from `DEP_GPTAQ_LIB_DIR`), or `plain`
//! (by name, no rpath: what a distribution package wants).
//!
//! Metadata for dependents' build scripts: `DEP_GPTAQ_LIB_DIR`, `DEP_GPTAQ_INCLUDE_DIR`
//! (when known), `DEP_GPTAQ_LINK_MODE`.
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pkg_config(var: &str) -> Option<PathBuf> {
    let prog = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out = Command::new(prog)
        .args([&format!("--variable={}", var), "gptaq"])
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

/// The directories the dynamic loader searches without help: the built-in ones and those
/// listed in /etc/ld.so.conf (one level of `include`).
fn system_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/lib", "/lib64", "/usr/lib", "/usr/lib64"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let (Ok(arch), Ok(os)) = (env::var("CARGO_CFG_TARGET_ARCH"), env::var("CARGO_CFG_TARGET_OS")) {
        let env_ = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
        let triple = format!("{}-{}-{}", arch, os, env_);
        dirs.push(PathBuf::from(format!("/lib/{}", triple)));
        dirs.push(PathBuf::from(format!("/usr/lib/{}", triple)));
    }
    let mut conf_files = vec![PathBuf::from("/etc/ld.so.conf")];
    if let Ok(rd) = fs::read_dir("/etc/ld.so.conf.d") {
        let mut extra: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        extra.sort();
        conf_files.extend(extra);
    }
    for f in conf_files {
        if let Ok(text) = fs::read_to_string(&f) {
            for line in text.lines() {
                let l = line.split('#').next().unwrap_or("").trim();
                if l.starts_with('/') {
                    dirs.push(PathBuf::from(l));
                }
            }
        }
    }
    dirs.into_iter()
        .map(|d| d.canonicalize().unwrap_or(d))
        .collect()
}

fn rd_u16(b: &[u8], o: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?) as u64)
}
fn rd_u32(b: &[u8], o: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?) as u64)
}
fn rd_u64(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// The DT_SONAME of a little-endian ELF64 shared object, read from its section headers.
fn elf_soname(path: &Path) -> Option<String> {
    let b = fs::read(path).ok()?;
    if b.get(0..4)? != b"\x7fELF" || *b.get(4)? != 2 || *b.get(5)? != 1 {
        return None;
    }
    let shoff = rd_u64(&b, 0x28)? as usize;
    let shentsize = rd_u16(&b, 0x3a)? as usize;
    let shnum = rd_u16(&b, 0x3c)? as usize;
    let sh = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    for i in 0..shnum {
        let s = sh(i)?;
        if rd_u32(&b, s + 4)? != 6 {
            continue; // not SHT_DYNAMIC
        }
        let off = rd_u64(&b, s + 0x18)? as usize;
        let size = rd_u64(&b, s + 0x20)? as usize;
        let link = rd_u32(&b, s + 0x28)? as usize;
        let strtab = rd_u64(&b, sh(link)? + 0x18)? as usize;
        let mut e = off;
        while e + 16 <= off + size {
            let tag = rd_u64(&b, e)?;
            if tag == 0 {
                break;
            }
            if tag == 14 {
                let start = strtab.checked_add(rd_u64(&b, e + 8)? as usize)?;
                let rest = b.get(start..)?;
                let end = rest.iter().position(|&c| c == 0)?;
                return String::from_utf8(rest[..end].to_vec()).ok();
            }
            e += 16;
        }
    }
    None
}

/// The C API's function names, from the committed raw bindings.
fn api_functions(bindings: &Path) -> Vec<String> {
    let text = fs::read_to_string(bindings).expect("read src/bindings.rs");
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub fn "))
        .filter_map(|l| l.split('(').next())
        .filter(|n| n.starts_with("gptaq_"))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Build the link stub in OUT_DIR/stub: libgptaq.so with SONAME `needed` (an absolute
/// path) defining every API function. Returns the directory, or a reason.
fn build_stub(needed: &Path) -> Result<PathBuf, String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("stub");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let mut src = String::from(
        "/* Link stub of libgptaq generated by gptaq-sys/build.rs: used by the linker only. */\n",
    );
    for f in api_functions(&manifest.join("src/bindings.rs")) {
        src.push_str(&format!("void {}(void) {{}}\n", f));
    }
    let c = out.join("gptaq_stub.c");
    fs::write(&c, src).map_err(|e| e.to_string())?;
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let so = out.join("libgptaq.so");
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-nostdlib", "-o"])
        .arg(&so)
        .arg(format!("-Wl,-soname,{}", needed.display()))
        .arg(&c)
        .status()
        .map_err(|e| format!("cannot run {}: {}", cc, e))?;
    if !status.success() {
        return Err(format!("{} failed to build the link stub", cc));
    }
    Ok(out)
}

fn main() {
    for v in [
        "GPTAQ_LIB_DIR",
        "GPTAQ_INCLUDE_DIR",
        "GPTAQ_LINK_MODE",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG",
        "CC",
    ] {
        println!("cargo:rerun-if-env-changed={}", v);
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/bindings.rs");

    let from_env = env::var_os("GPTAQ_LIB_DIR").filter(|d| !d.is_empty());
    let (dir, include) = match from_env {
        Some(d) => (
            Some(PathBuf::from(d)),
            env::var_os("GPTAQ_INCLUDE_DIR").map(PathBuf::from),
        ),
        None => (
            pkg_config("libdir"),
            env::var_os("GPTAQ_INCLUDE_DIR")
                .map(PathBuf::from)
                .or_else(|| pkg_config("includedir")),
        ),
    };
    if let Some(inc) = &include {
        println!("cargo:include_dir={}", inc.display());
    }
    let dir = match dir {
        Some(d) => d.canonicalize().unwrap_or(d),
        None => {
            println!(
                "cargo:warning=libgptaq not found through GPTAQ_LIB_DIR or `pkg-config gptaq` \
                 (set PKG_CONFIG_PATH to <prefix>/lib/pkgconfig); linking by name from the \
                 system's library path"
            );
            println!("cargo:link_mode=plain");
            println!("cargo:rustc-link-lib=dylib=gptaq");
            return;
        }
    };
    println!("cargo:lib_dir={}", dir.display());
    let is_system = system_dirs().contains(&dir);
    let requested = env::var("GPTAQ_LINK_MODE").unwrap_or_default();
    let mut mode = match requested.as_str() {
        "" => {
            if is_system {
                "plain"
            } else {
                "stub"
            }
        }
        "stub" | "rpath" | "plain" => requested.as_str(),
        other => panic!("GPTAQ_LINK_MODE={} is not one of stub, rpath, plain", other),
    }
    .to_string();

    if mode == "stub" {
        let lib = dir.join("libgptaq.so");
        // A new library (another SONAME after a version bump) needs a new stub.
        println!("cargo:rerun-if-changed={}", lib.display());
        let needed = elf_soname(&lib)
            .map(|s| dir.join(s))
            .filter(|p| p.exists())
            .or_else(|| lib.canonicalize().ok());
        match needed.ok_or_else(|| format!("cannot read {}", lib.display())).and_then(|n| build_stub(&n)) {
            Ok(stub_dir) => {
                println!("cargo:rustc-link-search=native={}", stub_dir.display());
            }
            Err(why) => {
                println!(
                    "cargo:warning=gptaq-sys: no link stub ({}); dependents' binaries need \
                     LD_LIBRARY_PATH or an rpath to {}",
                    why,
                    dir.display()
                );
                mode = "rpath".into();
            }
        }
    }
    if mode != "stub" {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    if mode != "plain" {
        // This package's own tests and examples (cargo does not pass it to dependents).
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    println!("cargo:link_mode={}", mode);
    println!("cargo:rustc-link-lib=dylib=gptaq");
}
