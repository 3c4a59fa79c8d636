//! `tinymesos-scheduler`: see [`tinymesos::scheduler`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tinymesos::scheduler::main(&args));
}
