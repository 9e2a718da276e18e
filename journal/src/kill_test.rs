//! For tests: a real SIGKILL test, with the test binary itself as the process killed.
//!
//! The parent test spawns [`Child`]: the same test binary, running only an `#[ignore]`d test that
//! finds its directory with [`child_dir`], writes to a store there and prints a line for each
//! write that returned. The parent reads lines, kills the child with SIGKILL at some point
//! ([`Child::kill_after`]), reopens the store and checks that every write the child reported is
//! there.

use std::io::{self, BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};

/// The environment variable the child reads its directory from.
pub const CHILD_DIR: &str = "TALLY_KILL_TEST_DIR";

/// In the child test: the directory its parent gave it. `None` when it runs as an ordinary
/// (ignored) test, which should then return at once.
pub fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_DIR).map(PathBuf::from)
}

/// The child process, killed with SIGKILL when dropped if [`Child::kill`] was not called.
#[derive(Debug)]
pub struct Child {
    child: std::process::Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Child {
    /// Runs the ignored test `test` of this test binary in a child process, with `dir` in
    /// [`CHILD_DIR`] and the variables `env`; its stderr is discarded.
    pub fn spawn(test: &str, dir: &Path, env: &[(&str, &str)]) -> io::Result<Child> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("the child has no stdout"))?;
        Ok(Child {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The next line the child printed; `None` once it ended. The first may follow the test
    /// harness's own `test NAME ... ` on the same line.
    fn line(&mut self) -> Option<String> {
        self.lines.next().and_then(Result::ok)
    }

    /// Reads the child's lines until it has reported `n` writes (lines holding `marker`, followed
    /// by what was written), kills it with SIGKILL, and returns everything it reported, what it
    /// printed before it died included. An error if it ends first.
    pub fn kill_after(mut self, marker: &str, n: usize) -> io::Result<Vec<String>> {
        let reported = |line: &str| line.split_once(marker).map(|(_, w)| w.trim().to_owned());
        let mut out = Vec::new();
        while out.len() < n {
            let line = self.line().ok_or_else(|| {
                io::Error::other(format!("the child ended after {} writes", out.len()))
            })?;
            out.extend(reported(&line));
        }
        out.extend(self.kill()?.iter().filter_map(|l| reported(l)));
        Ok(out)
    }

    /// Kills the child with SIGKILL, waits for it, and returns the lines it printed that were
    /// not read yet (written before it died, so their writes returned).
    pub fn kill(mut self) -> io::Result<Vec<String>> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(self.lines.by_ref().map_while(Result::ok).collect())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
