//! Generates bindings to the system DPDK and compiles a shim that turns DPDK's
//! `static inline` functions (rx/tx burst, mbuf alloc/free, ...) into real
//! symbols Rust can call. The only build script in the workspace.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim.c");

    let dpdk = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!("libdpdk not found through pkg-config ({e}); on Debian: apt-get install libdpdk-dev")
        });

    // Compiler flags from libdpdk.pc: include paths, `-include rte_config.h`, and the
    // -march DPDK was built for (its headers use SSE4.2 intrinsics).
    let mut clang_args: Vec<String> = dpdk
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .collect();
    for (k, v) in &dpdk.defines {
        clang_args.push(match v {
            Some(v) => format!("-D{k}={v}"),
            None => format!("-D{k}"),
        });
    }
    // pkg-config's crate does not expose `-include`/`-march`: take them from --cflags.
    let raw = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config --cflags libdpdk");
    let raw = String::from_utf8_lossy(&raw.stdout).to_string();
    let mut words = raw.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if w == "-include" {
            if let Some(f) = words.next() {
                clang_args.push("-include".into());
                clang_args.push(f.into());
            }
        } else if w.starts_with("-m") {
            clang_args.push(w.into());
        }
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let shim_c = out.join("dpdk_static_fns");

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function("rte_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("rte_.*")
        // Packed and aligned at once: Rust cannot express these layouts.
        .opaque_type("rte_arp_ipv4|rte_arp_hdr|rte_gtp_.*|rte_l2tpv2_combined_msg_hdr")
        .blocklist_function("rte_.*_x86.*|rte_lpm_lookupx4")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&shim_c)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen over DPDK headers");
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    // Compile the wrappers bindgen wrote for the static inline functions.
    let mut build = cc::Build::new();
    build.file(shim_c.with_extension("c"));
    build.file("shim.c");
    build.include(env::var("CARGO_MANIFEST_DIR").unwrap());
    for a in &clang_args {
        build.flag(a);
    }
    build.flag("-Wno-unused-parameter");
    build.flag("-Wno-deprecated-declarations");
    build.flag("-Wno-duplicate-decl-specifier");
    build.compile("dpdk_static_fns");
}
