//! gptaq-sys finds libgptaq and passes its directory as DEP_GPTAQ_LIB_DIR; record it as an
//! rpath so this crate's tests, doc tests and examples run without LD_LIBRARY_PATH.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_GPTAQ_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_GPTAQ_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
