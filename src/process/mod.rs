//! Child processes, like asyncio's `create_subprocess_exec`: spawn, wait
//! for the exit through the ring (a pidfd polled by `IORING_OP_POLL_ADD`),
//! and talk to the child over pipes that are ringloop streams.
//!
//! ```
//! use ringloop::process::Command;
//! ringloop::run(async {
//!     let output = Command::new("echo").arg("hello").output().await?;
//!     assert!(output.status.success());
//!     assert_eq!(output.stdout, b"hello\n");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use crate::buf::{IoBuf, IoBufMut};
use crate::driver::Op;
use crate::io::{AsyncReadOwned, AsyncWriteOwned, PipeReader, PipeWriter, SharedFd};
use crate::op::poll::PollAdd;
use crate::runtime::context;

/// Builds a child process (a wrapper around `std::process::Command`).
pub struct Command {
    inner: std::process::Command,
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: std::process::Command::new(program),
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts from an empty environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// The child's stdin: `Stdio::piped()` makes [`Child::stdin`] a
    /// ringloop stream.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self
    }

    /// The child's stdout.
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self
    }

    /// The child's stderr.
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self
    }

    /// Kill the child (SIGKILL) if its [`Child`] is dropped before it
    /// exited. Off by default: a dropped child keeps running, like std's.
    pub fn kill_on_drop(&mut self, on: bool) -> &mut Command {
        self.kill_on_drop = on;
        self
    }

    /// Starts the child.
    ///
    /// # Errors
    ///
    /// `NotFound` when the program does not exist (the message names it),
    /// `PermissionDenied`, or the errors of creating pipes and the pidfd.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut child = self.inner.spawn().map_err(|err| {
            let program = self.inner.get_program().to_string_lossy().into_owned();
            io::Error::new(err.kind(), format!("could not start {program:?}: {err}"))
        })?;
        let pidfd = match crate::sys::pidfd_open(child.id()) {
            Ok(fd) => SharedFd::new(fd),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err);
            }
        };
        Ok(Child {
            stdin: child
                .stdin
                .take()
                .map(|s| ChildStdin(PipeWriter::from(OwnedFd::from(s)))),
            stdout: child
                .stdout
                .take()
                .map(|s| ChildStdout(PipeReader::from(OwnedFd::from(s)))),
            stderr: child
                .stderr
                .take()
                .map(|s| ChildStderr(PipeReader::from(OwnedFd::from(s)))),
            pidfd,
            std: Some(child),
            status: None,
            kill_on_drop: self.kill_on_drop,
        })
    }

    /// Runs the child to completion, capturing stdout and stderr (stdin is
    /// empty), like `asyncio.subprocess` with `communicate()`.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Self::spawn), and the errors of reading the pipes.
    pub async fn output(&mut self) -> io::Result<Output> {
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }

    /// Runs the child to completion with inherited stdio and returns its
    /// exit status.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Self::spawn).
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// A running (or exited) child process.
pub struct Child {
    /// The child's stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
    pidfd: SharedFd,
    /// `None` once reaped.
    std: Option<std::process::Child>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Child {
    /// The process id (`None` once it has been waited for).
    pub fn id(&self) -> Option<u32> {
        self.std.as_ref().map(std::process::Child::id)
    }

    /// Waits for the child to exit (its pidfd becomes readable in the ring),
    /// reaps it, and returns its status. Closes the child's stdin first, so
    /// a child reading it sees end of input.
    ///
    /// # Errors
    ///
    /// The kernel's errors for the poll or `waitid`.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            Op::new(PollAdd::readable(self.pidfd.clone())).await?;
        }
    }

    /// The exit status if the child has exited, without waiting.
    ///
    /// # Errors
    ///
    /// The kernel's error for `waitid`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(child) = self.std.as_mut() else {
            return Err(io::Error::other("the child was already reaped"));
        };
        let status = child.try_wait()?;
        if let Some(status) = status {
            self.status = Some(status);
            self.std = None;
        }
        Ok(status)
    }

    /// Sends SIGKILL (no-op once the child has exited and been reaped).
    ///
    /// # Errors
    ///
    /// The kernel's error for `kill`.
    pub fn start_kill(&mut self) -> io::Result<()> {
        match self.std.as_mut() {
            Some(child) => child.kill(),
            None => Ok(()),
        }
    }

    /// Sends SIGKILL and waits for the child to exit.
    ///
    /// # Errors
    ///
    /// As for [`start_kill`](Self::start_kill) and [`wait`](Self::wait).
    pub async fn kill(&mut self) -> io::Result<ExitStatus> {
        self.start_kill()?;
        self.wait().await
    }

    /// Waits for the child while reading all of its stdout and stderr.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Self::wait), and the errors of reading the pipes.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        let (out, err) = futures_util::future::join(
            read_all(stdout.map(|s| s.0)),
            read_all(stderr.map(|s| s.0)),
        )
        .await;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: out?,
            stderr: err?,
        })
    }
}

async fn read_all(pipe: Option<PipeReader>) -> io::Result<Vec<u8>> {
    let Some(pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut data = Vec::new();
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (res, b) = pipe.read(buf).await;
        buf = b;
        match res {
            Ok(0) => return Ok(data),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut child) = self.std.take() else {
            return;
        };
        if !self.kill_on_drop {
            return;
        }
        if child.kill().is_err() {
            return;
        }
        // Reap it so no zombie is left: in the background while a loop
        // runs, else now (a SIGKILLed child exits at once).
        match context::handle() {
            Some(handle) => {
                let pidfd = self.pidfd.clone();
                // The reaper task may never finish: the runtime can shut
                // down (dropping its tasks) before the pidfd's poll
                // completes, or this drop may itself run during shutdown.
                // `Reaper` waits for the child when the task is dropped
                // either way, so the child is reaped, never left a zombie.
                let reaper = Reaper(Some(child));
                drop(handle.spawn(async move {
                    let _ = Op::new(PollAdd::readable(pidfd)).await;
                    drop(reaper);
                }));
            }
            None => {
                let _ = child.wait();
            }
        }
    }
}

/// A killed child that is reaped (a blocking `waitid`, brief: it was sent
/// SIGKILL) when this is dropped.
struct Reaper(Option<std::process::Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.wait();
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The write end of a child's stdin.
#[derive(Debug)]
pub struct ChildStdin(PipeWriter);

/// The read end of a child's stdout.
#[derive(Debug)]
pub struct ChildStdout(PipeReader);

/// The read end of a child's stderr.
#[derive(Debug)]
pub struct ChildStderr(PipeReader);

impl ChildStdin {
    /// Writes some of `buf`.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.0.write(buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.0.write_all(buf).await
    }
}

impl AsyncWriteOwned for ChildStdin {
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.0.write(buf).await
    }
}

macro_rules! child_reader {
    ($ty:ident) => {
        impl $ty {
            /// Reads into `buf`; 0 means the child closed it (or exited).
            pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
                self.0.read(buf).await
            }
        }

        impl AsyncReadOwned for $ty {
            async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
                self.0.read(buf).await
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }
    };
}

child_reader!(ChildStdout);
child_reader!(ChildStderr);
