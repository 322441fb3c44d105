//! gptaq-sys finds libgptaq and passes its directory as DEP_GPTAQ_LIB_DIR. Its default link
//! stub already makes every binary find the library; with GPTAQ_LINK_MODE=rpath this rpath
//! is what lets this crate's own tests, doc tests and examples run without LD_LIBRARY_PATH
//! (GPTAQ_LINK_MODE=plain: none).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_GPTAQ_LIB_DIR");
    println!("cargo:rerun-if-env-changed=DEP_GPTAQ_LINK_MODE");
    let plain = std::env::var("DEP_GPTAQ_LINK_MODE").is_ok_and(|m| m == "plain");
    if let (Ok(dir), false) = (std::env::var("DEP_GPTAQ_LIB_DIR"), plain) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
