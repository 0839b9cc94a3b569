//! The README's directive reference is the code's directive table, rendered: this test fails
//! when they drift. `SPOONFEED_BLESS=1 cargo test --test readme` rewrites the README's copy.

const BEGIN: &str = "<!-- directive-reference:begin (generated from src/config/directives.rs; see tests/readme.rs) -->\n";
const END: &str = "<!-- directive-reference:end -->";

#[test]
fn readme_directive_reference_matches_the_directive_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme.find(BEGIN).expect("README has the begin marker") + BEGIN.len();
    let end = readme.find(END).expect("README has the end marker");
    let generated = spoonfeed::config::directives::reference_markdown();
    if readme[start..end] != generated {
        if std::env::var_os("SPOONFEED_BLESS").is_some() {
            let updated = format!("{}{}{}", &readme[..start], generated, &readme[end..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        panic!("README.md's directive reference is out of date: run SPOONFEED_BLESS=1 cargo test --test readme");
    }
}

#[test]
fn readme_gives_the_two_commands() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("cargo run --release -- demo"));
    assert!(readme.contains("cargo test --workspace"));
}
