//! `uniffi-bindgen` pinned to the workspace's uniffi, so generated bindings always match the runtime.

fn main() {
    uniffi::uniffi_bindgen_main()
}
