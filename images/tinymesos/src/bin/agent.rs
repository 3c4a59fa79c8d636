//! `tinymesos-agent`: see [`tinymesos::agent`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tinymesos::agent::main(&args));
}
