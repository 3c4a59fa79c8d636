//! The `crossgrade` command, in stages as ripgrep's: arguments are parsed (`cli::args`), each
//! subcommand is one small function over the library (`cli::commands`), and what it ends with is
//! mapped to an exit code in one place ([`exit_code`]).

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command, HistoryCommand, ImagesCommand, ReportCommand};
use cli::{Failure, Status};

/// Nothing red: every trial passed or failed exactly as its baseline records (or only `plan`/`gc`/...
/// was asked).
const EXIT_OK: u8 = 0;
/// A trial is red (regressed, changed, new and failing, or errored), or the engine, a build or a
/// report could not be done.
const EXIT_FAILED: u8 = 1;
/// Bad input: the matrix, a scenario or an argument. Nothing was started.
const EXIT_BAD_INPUT: u8 = 2;
/// Interrupted by SIGINT/SIGTERM (after cleaning up).
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.color.apply();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = rt.block_on(dispatch(cli));
    let code = exit_code(&result);
    match result {
        Err(Failure::BrokenPipe) | Ok(_) => {}
        // A closed stderr (`crossgrade plan … 2>&1 | head`) loses the message, never the exit code.
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{:?}", miette::Report::new(e));
        }
    }
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> Result<Status, Failure> {
    use cli::commands as c;
    match cli.command {
        Command::Plan {
            m,
            filter,
            ids,
            explain,
            format,
            risk,
        } => c::plan(
            &m.matrix.path,
            &m.selection(filter),
            c::PlanView {
                ids,
                explain,
                format,
                risk,
            },
        ),
        Command::Run { m, filter, opts } => {
            c::run(&m.matrix.path, &m.selection(filter), opts).await
        }
        Command::Report {
            command: Some(ReportCommand::Merge { dirs, into }),
            ..
        } => c::report_merge(&dirs, into),
        Command::Report { m, dir, .. } => c::report(&m.report_dir(dir)),
        Command::Accept {
            m,
            dir,
            trials,
            regressions,
            snapshots,
        } => c::accept_run(&m.report_dir(dir), &trials, regressions, snapshots),
        Command::Compat { m, dir, format } => c::compat(&m.report_dir(dir), format),
        Command::Shrink {
            m,
            trial,
            from,
            max_trials,
            reports,
        } => {
            c::shrink(
                &m.matrix.path,
                &trial,
                c::ShrinkArgs {
                    from,
                    max_trials,
                    reports,
                },
            )
            .await
        }
        Command::Predicted { m, dir, format } => {
            c::predicted(&m.matrix.path, &m.report_dir(dir), format)
        }
        Command::Images { command } => match command {
            ImagesCommand::Build {
                m,
                filter,
                force,
                install_tools,
                verbose,
            } => {
                let selection = m.selection(filter);
                c::images_build(&m.matrix.path, &selection, force, install_tools, verbose).await
            }
            ImagesCommand::List { m } => c::images_list(&m.matrix.path).await,
        },
        Command::Gc { m: _, all } => c::gc(all).await,
        Command::Doctor { m } => c::doctor(&m.matrix.path).await,
        Command::ApiDiff(args) => c::api_diff(&args),
        Command::ApiCheck(args) => c::api_check(&args),
        Command::History { command } => match command {
            HistoryCommand::Check {
                model,
                format,
                max_steps,
                files,
            } => c::history_check(&files, model, format, max_steps),
        },
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "crossgrade", &mut out);
            cli::out(String::from_utf8_lossy(&out).trim_end()).map(|_| Status::Green)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            // Rendering into memory cannot fail: the only errors are the writer's.
            let _ = clap_mangen::Man::new(Cli::command()).render(&mut out);
            cli::out(String::from_utf8_lossy(&out).trim_end()).map(|_| Status::Green)
        }
    }
}

/// The one mapping from what a command ended with to the process's exit code.
fn exit_code(result: &Result<Status, Failure>) -> u8 {
    match result {
        Ok(Status::Green) => EXIT_OK,
        Ok(Status::Red) => EXIT_FAILED,
        Ok(Status::Interrupted) => EXIT_INTERRUPTED,
        Err(e) if e.is_bad_input() => EXIT_BAD_INPUT,
        Err(Failure::BrokenPipe) => EXIT_OK,
        Err(_) => EXIT_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossgrade::runtime::{EngineError, EngineErrorKind};

    /// An engine nobody can reach is not bad input: exit 1, as the README says.
    #[test]
    fn an_unreachable_engine_exits_1() {
        let e = EngineError::new(
            "asking the Docker engine at unix:///nowhere for its version",
            EngineErrorKind::Other,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(exit_code(&Err(Failure::Unreachable(e))), EXIT_FAILED);
    }
}
