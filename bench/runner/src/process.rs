//! Running a child process (QEMU) under a deadline, its stdout handed over line by line as it
//! arrives and its stderr captured. No run can hang the caller: at the deadline, or when the
//! runner gets a stop signal ([`crate::signals`]), the child gets SIGKILL; and the child dies
//! with the runner ([`crate::signals::die_with_parent`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::outcome::ProcessEnd;

pub struct Finished {
    pub end: ProcessEnd,
    pub stderr: String,
    pub duration: Duration,
}

/// Why the runner killed the child.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kill {
    Deadline,
    /// The runner got this stop signal.
    Signal(i32),
}

/// Spawns `cmd`, writes `stdin_data` to its stdin (kept open until it exits; None: stdin is
/// /dev/null), calls `on_line` for every stdout line (without its `\n`/`\r\n`; invalid UTF-8
/// replaced), and kills it when `timeout` has passed or the runner got a stop signal (even one
/// that arrived before the call: then the child is killed at once).
pub fn run_streaming(
    mut cmd: Command,
    stdin_data: Option<&[u8]>,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> io::Result<Finished> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin_data.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    crate::signals::die_with_parent(&mut cmd);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take();
    if let (Some(input), Some(data)) = (stdin.as_mut(), stdin_data) {
        // The child may already have died (a refused CPU model): its error is in stderr.
        let _ = input.write_all(data).and_then(|()| input.flush());
    }

    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let (etx, erx) = mpsc::channel::<String>();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut buf);
        let _ = etx.send(String::from_utf8_lossy(&buf).into_owned());
    });

    let mut status: Option<ExitStatus> = None;
    let mut killed: Option<Kill> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => on_line(&line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if status.is_none() {
                    status = child.try_wait()?;
                }
            }
        }
        killed = stop(&mut child, &mut status, deadline)?;
        // After a stop signal, stop reading even if the child has exited meanwhile (something
        // else may hold its stdout open).
        if killed.is_some() || (status.is_some() && crate::signals::caught().is_some()) {
            break;
        }
    }
    // Stdout is closed (or the child was killed): wait for the exit, still under the deadline.
    if status.is_none() && killed.is_none() {
        loop {
            if let Some(s) = child.try_wait()? {
                status = Some(s);
                break;
            }
            killed = stop(&mut child, &mut status, deadline)?;
            if killed.is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    if killed.is_some() {
        let _ = child.wait();
    }
    drop(stdin);
    // Lines that arrived before the kill are kept.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        on_line(&line);
    }
    // A process that inherited the pipes could keep them open: never wait on the readers
    // after a kill or a stop signal (they end on their own when the pipes close).
    if killed.is_none() && crate::signals::caught().is_none() {
        let _ = reader.join();
    }
    let stderr = erx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    let duration = start.elapsed();
    let end = match killed {
        Some(Kill::Deadline) => ProcessEnd::Timeout(timeout.as_secs_f64()),
        Some(Kill::Signal(sig)) => ProcessEnd::Interrupted(sig),
        None => {
            let s = status.expect("exited");
            match (s.code(), s.signal()) {
                (Some(code), _) => ProcessEnd::Status(code),
                (None, Some(sig)) => ProcessEnd::Signal(sig),
                (None, None) => ProcessEnd::Status(-1),
            }
        }
    };
    Ok(Finished {
        end,
        stderr,
        duration,
    })
}

/// Kills the child if it still runs and the deadline has passed or a stop signal came; returns
/// why it was killed.
fn stop(
    child: &mut Child,
    status: &mut Option<ExitStatus>,
    deadline: Instant,
) -> io::Result<Option<Kill>> {
    let why = match crate::signals::caught() {
        Some(sig) => Kill::Signal(sig),
        None if Instant::now() >= deadline => Kill::Deadline,
        None => return Ok(None),
    };
    if status.is_none() {
        *status = child.try_wait()?;
    }
    if status.is_some() {
        return Ok(None);
    }
    kill(child);
    Ok(Some(why))
}

fn kill(child: &mut Child) {
    // Child::kill sends SIGKILL on Unix.
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn streams_lines_and_status() {
        let mut lines = Vec::new();
        let f = run_streaming(
            sh("printf 'a\\r\\nb\\n{\"type\":\"end\"}'; echo oops >&2; exit 33"),
            None,
            Duration::from_secs(10),
            |l| lines.push(l.to_string()),
        )
        .unwrap();
        assert_eq!(lines, ["a", "b", "{\"type\":\"end\"}"]);
        assert_eq!(f.end, ProcessEnd::Status(33));
        assert_eq!(f.stderr, "oops\n");
    }

    #[test]
    fn deadline_kills_and_keeps_lines() {
        let mut lines = Vec::new();
        let f = run_streaming(
            sh("echo before; sleep 30"),
            None,
            Duration::from_millis(500),
            |l| lines.push(l.to_string()),
        )
        .unwrap();
        assert_eq!(f.end, ProcessEnd::Timeout(0.5));
        assert_eq!(lines, ["before"]);
        assert!(f.duration < Duration::from_secs(5));
    }

    #[test]
    fn signal_and_stdin() {
        let f = run_streaming(sh("kill -ABRT $$"), None, Duration::from_secs(10), |_| {}).unwrap();
        assert_eq!(f.end, ProcessEnd::Signal(6));
        let mut lines = Vec::new();
        let f = run_streaming(
            sh("read x; echo got $x"),
            Some(b"hello\n"),
            Duration::from_secs(10),
            |l| lines.push(l.to_string()),
        )
        .unwrap();
        assert_eq!(f.end, ProcessEnd::Status(0));
        assert_eq!(lines, ["got hello"]);
    }
}
