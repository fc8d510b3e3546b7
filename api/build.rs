// The UI's files are embedded by `include_dir!` (src/ui.rs); rebuild when any of them changes
// or one is added.
fn main() {
    println!("cargo:rerun-if-changed=../ui/assets");
}
