//! PDF text, read in a child process with hard limits.
//!
//! A PDF reader is a large parser of hostile input: a crafted file (a deflate bomb, a cyclic
//! object graph) can take gigabytes or spin for ever, and a panic is only the mild case. The
//! `citewatch` binary therefore reads each PDF in a child process of itself (the hidden
//! `citewatch pdf-text`), which caps its own address space and CPU time before reading; the
//! parent also kills it at a wall-clock deadline. Whatever happens there, the source fails
//! with a message saying which limit was hit, and the run goes on.
//!
//! Library users that never call [`use_helper`] (unit tests, examples) read PDFs in-process,
//! with panics caught but no limits.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::ExtractError;

/// Address space the reader may use.
pub const MEMORY_LIMIT_MIB: u64 = 512;
/// CPU time the reader may use.
pub const CPU_LIMIT_SECS: u64 = 20;
/// Wall-clock time one PDF may take (a reader stuck without spending CPU).
pub const WALL_LIMIT_SECS: u64 = 30;
/// The most text taken back from one PDF.
const MAX_TEXT: u64 = 64 << 20;

/// The hidden subcommand the helper runs as.
pub const HELPER_COMMAND: &str = "pdf-text";

static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Reads PDFs from now on by running `exe pdf-text` (the `citewatch` binary itself).
pub fn use_helper(exe: PathBuf) {
    let _ = HELPER.set(exe);
}

/// The path that runs this very binary: `/proc/self/exe` on Linux, which still works after
/// the file was replaced by an upgrade while a daemon runs; else `current_exe`.
pub fn this_binary() -> Option<PathBuf> {
    let proc_self = Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_self.exists() {
        return Some(proc_self.to_path_buf());
    }
    std::env::current_exe().ok()
}

/// The text of a PDF: in the helper process when one is set, in-process otherwise.
pub(super) fn pdf_text(body: &[u8]) -> Result<String, ExtractError> {
    match HELPER.get() {
        Some(exe) => in_child(exe, body),
        None => in_process(body),
    }
}

/// Reads a PDF in this process; a panic of the reader becomes an error.
fn in_process(body: &[u8]) -> Result<String, ExtractError> {
    match std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(body)) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(ExtractError::Pdf(e.to_string())),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "malformed PDF".to_owned());
            Err(ExtractError::Pdf(format!("PDF reader failed: {msg}")))
        }
    }
}

/// The helper's side: limit this process, read a PDF on stdin, write its text to stdout.
/// Exit 0 with the text, or 1 with the reason on stderr.
pub fn helper_main() -> i32 {
    if let Err(e) = limit_self() {
        eprintln!("cannot limit the PDF reader: {e}");
        return 1;
    }
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut body) {
        eprintln!("cannot read the PDF from the parent: {e}");
        return 1;
    }
    match in_process(&body) {
        Ok(text) => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("cannot hand the text back: {e}");
                1
            }
        },
        Err(ExtractError::Pdf(msg)) => {
            eprintln!("{msg}");
            1
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(unix)]
fn limit_self() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let mem = MEMORY_LIMIT_MIB << 20;
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(mem),
            maximum: Some(mem),
        },
    )?;
    // SIGXCPU at the soft limit, SIGKILL a second later.
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(CPU_LIMIT_SECS),
            maximum: Some(CPU_LIMIT_SECS + 1),
        },
    )?;
    Ok(())
}

#[cfg(not(unix))]
fn limit_self() -> std::io::Result<()> {
    Ok(())
}

fn in_child(exe: &Path, body: &[u8]) -> Result<String, ExtractError> {
    let fail = |m: String| ExtractError::Pdf(m);
    let mut child = Command::new(exe)
        .arg(HELPER_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .spawn()
        .map_err(|e| fail(format!("cannot start the PDF reader {}: {e}", exe.display())))?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail("cannot talk to the PDF reader".into()));
    };
    let deadline = Instant::now() + Duration::from_secs(WALL_LIMIT_SECS);
    let (status, out, err) = std::thread::scope(|s| {
        // Writing, reading and waiting run side by side: a full pipe never blocks the other.
        s.spawn(move || {
            let _ = stdin.write_all(body);
        });
        // Both pipes are read to the end (a reader stopped early would break the child's
        // writes); only the first MAX_TEXT + 1 bytes of text and the last 64 KiB of messages
        // are kept.
        let out = s.spawn(move || {
            let mut v = Vec::new();
            let _ = (&mut stdout).take(MAX_TEXT + 1).read_to_end(&mut v);
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            v
        });
        let err = s.spawn(move || {
            const TAIL: usize = 64 << 10;
            let (mut tail, mut buf) = (Vec::new(), [0u8; 8192]);
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * TAIL {
                    tail.drain(..tail.len() - TAIL);
                }
            }
            String::from_utf8_lossy(&tail).trim().to_owned()
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Ok(st),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("the PDF reader took longer than {WALL_LIMIT_SECS} s"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("lost the PDF reader: {e}"));
                }
            }
        };
        (
            status,
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    let status = status.map_err(fail)?;
    if out.len() as u64 > MAX_TEXT {
        return Err(fail(format!("more than {} MiB of text", MAX_TEXT >> 20)));
    }
    if status.success() {
        return Ok(String::from_utf8_lossy(&out).into_owned());
    }
    Err(fail(explain(status, &err)))
}

/// Why the helper failed, in words.
fn explain(status: std::process::ExitStatus, stderr: &str) -> String {
    let last = stderr.lines().last().unwrap_or("").to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            if stderr.contains("memory allocation") {
                return format!("the PDF reader ran out of its {MEMORY_LIMIT_MIB} MiB memory limit");
            }
            return match sig {
                // SIGXCPU at the soft limit.
                24 => format!("the PDF reader used more than {CPU_LIMIT_SECS} s of CPU time"),
                // The hard CPU limit, or the kernel's out-of-memory killer.
                9 => format!(
                    "the PDF reader was killed (past {CPU_LIMIT_SECS} s of CPU time, or out of memory)"
                ),
                _ if last.is_empty() => format!("the PDF reader crashed (signal {sig})"),
                _ => format!("the PDF reader crashed (signal {sig}): {last}"),
            };
        }
    }
    if last.is_empty() {
        format!("the PDF reader failed ({status})")
    } else {
        last
    }
}
