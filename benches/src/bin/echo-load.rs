//! `echo-load`: the load generator on its own. See `--help`.

fn main() -> std::process::ExitCode {
    ringloop_bench::load::main_with_args(std::env::args().skip(1))
}
