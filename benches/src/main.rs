//! `ringloop-bench`: `echo` runs the benchmark matrix and writes
//! `docs/benchmarks.md`; `syscalls` counts syscalls per message; `serve`
//! and `load` are the server and generator processes the driver starts.

use std::process::ExitCode;

const USAGE: &str = "\
usage: ringloop-bench <command> [options]
  echo       run the echo matrix and write docs/benchmarks.md (see `echo --help`)
  syscalls   syscalls per echoed message for each server (strace -c)
  report     re-render docs/benchmarks.md from benches/results/echo.json
  list       the servers and whether they are built
  serve NAME --addr HOST:PORT [--buf BYTES]   run one echo server
  load ...   the load generator (same as the echo-load binary)";

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(cmd) = argv.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = argv.collect();
    match cmd.as_str() {
        "echo" => ringloop_bench::driver::echo_main(rest),
        "syscalls" => ringloop_bench::driver::syscalls_main(rest),
        "report" => ringloop_bench::driver::report_main(rest),
        "list" => ringloop_bench::driver::list_main(),
        "serve" => ringloop_bench::servers::serve_main(rest),
        "load" => ringloop_bench::load::main_with_args(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
