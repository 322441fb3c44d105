// Record where gptaq-sys found libgptaq as an rpath, so the example runs without
// LD_LIBRARY_PATH (not needed when the library is installed on the loader's path).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_GPTAQ_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_GPTAQ_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
