//! Command-line front end until the runner calls the library:
//!
//! ```text
//! cargo run -p bench-report --example report -- DIR            # write DIR's report, print summary
//! cargo run -p bench-report --example report -- OLD_DIR NEW_DIR  # print the comparison
//! cargo run -p bench-report --example report -- --redraw DIR   # plots from DIR/results.csv
//! ```

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Arguments as text; a folder name that is not UTF-8 is refused, not a panic.
    let mut args: Vec<String> = Vec::new();
    for (i, a) in std::env::args_os().skip(1).enumerate() {
        match a.into_string() {
            Ok(a) => args.push(a),
            Err(a) => {
                eprintln!("report: argument {} ({a:?}) is not valid UTF-8", i + 1);
                return ExitCode::from(2);
            }
        }
    }
    let out = match args.as_slice() {
        [flag, dir] if flag == "--redraw" => bench_report::redraw_plots(Path::new(dir)).map(|r| {
            let files: Vec<String> = r.files.iter().map(|f| f.display().to_string()).collect();
            let warnings: String = r
                .warnings
                .iter()
                .map(|w| format!("warning: {w}\n"))
                .collect();
            format!("{warnings}{}wrote:\n  {}", r.summary, files.join("\n  "))
        }),
        [dir] => bench_report::write_report(Path::new(dir)).map(|r| {
            let files: Vec<String> = r.files.iter().map(|f| f.display().to_string()).collect();
            format!("{}\nwrote:\n  {}", r.summary, files.join("\n  "))
        }),
        [old, new] => bench_report::compare(Path::new(old), Path::new(new)),
        _ => {
            eprintln!("usage: report DIR | report OLD_DIR NEW_DIR | report --redraw DIR");
            return ExitCode::from(2);
        }
    };
    match out {
        Ok(text) => {
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::FAILURE
        }
    }
}
