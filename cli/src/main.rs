//! The `pyra` binary: everything happens in [`pyra_cli::main`], so tests can drive the
//! same code in-process or through this executable.

fn main() -> std::process::ExitCode {
    pyra_cli::main()
}
