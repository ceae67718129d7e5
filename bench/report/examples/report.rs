//! Command-line front end until the runner calls the library:
//!
//! ```text
//! cargo run -p bench-report --example report -- DIR            # write DIR's report, print summary
//! cargo run -p bench-report --example report -- OLD_DIR NEW_DIR  # print the comparison
//! ```

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [dir] => bench_report::write_report(Path::new(dir)).map(|r| {
            let files: Vec<String> = r.files.iter().map(|f| f.display().to_string()).collect();
            format!("{}\nwrote:\n  {}", r.summary, files.join("\n  "))
        }),
        [old, new] => bench_report::compare(Path::new(old), Path::new(new)),
        _ => {
            eprintln!("usage: report DIR | report OLD_DIR NEW_DIR");
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
