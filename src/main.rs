//! The `spoonfeed` command: see `spoonfeed --help`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(spoonfeed::cli::main(&args));
}
