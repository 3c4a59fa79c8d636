//! `tinymesos-executor`: see [`tinymesos::executor`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tinymesos::executor::main(&args));
}
