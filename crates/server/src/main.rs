#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    keygate_server::cmd::main()
}
