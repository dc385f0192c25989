//! `Leptos.toml` (what a binary started without cargo-leptos reads) and Cargo.toml's
//! `[[workspace.metadata.leptos]]` (what cargo-leptos reads) must describe the same site.

use crate::helpers::workspace_root;

#[test]
fn leptos_toml_agrees_with_the_cargo_leptos_metadata() {
    let read = |file: &str| {
        let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
        leptos::config::get_config_from_str(&text).unwrap_or_else(|err| panic!("{file}: {err}"))
    };
    let (runtime, build) = (read("Leptos.toml"), read("Cargo.toml"));
    assert_eq!(runtime.output_name, build.output_name);
    assert_eq!(runtime.site_root, build.site_root);
    assert_eq!(runtime.site_pkg_dir, build.site_pkg_dir);
    assert_eq!(runtime.site_addr, build.site_addr);
    assert_eq!(runtime.reload_port, build.reload_port);
    assert_eq!(
        &*runtime.output_name, "spell_coven",
        "the name scripts/build-site.sh and the CSS link use"
    );
}
