//! Generates one `#[test]` per directory under `vectors/<scheme>/`, so a new vector is run
//! without editing any list, and a failing one is named after its directory.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = String::new();
    let mut schemes: Vec<_> = std::fs::read_dir(&root)
        .expect("vectors/ is readable")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .collect();
    schemes.sort_by_key(|entry| entry.file_name());
    for scheme in schemes {
        println!("cargo:rerun-if-changed={}", scheme.path().display());
        let scheme_name = scheme.file_name().to_string_lossy().into_owned();
        let mut cases: Vec<_> = std::fs::read_dir(scheme.path())
            .expect("a scheme directory is readable")
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_dir())
            .collect();
        cases.sort_by_key(|entry| entry.file_name());
        for case in cases {
            println!("cargo:rerun-if-changed={}", case.path().display());
            let case_name = case.file_name().to_string_lossy().into_owned();
            let ignore = std::fs::read_to_string(case.path().join("ignore.txt"))
                .map(|reason| format!("#[ignore = {:?}]\n", reason.trim()))
                .unwrap_or_default();
            let function = format!("{scheme_name}__{case_name}").replace('-', "_");
            writeln!(
                out,
                "#[test]\n{ignore}#[allow(non_snake_case)]\nfn {function}() {{\n    \
                 keyward_testkit::run_vector({scheme_name:?}, {case_name:?});\n}}\n"
            )
            .expect("writing to a String cannot fail");
        }
    }
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("vector_tests.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
