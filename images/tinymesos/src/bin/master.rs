//! `tinymesos-master`: see [`tinymesos::master`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tinymesos::master::main(&args));
}
