//! OS-specific containment: what makes the engine and everything it starts die with us.
//!
//! Linux: the child gets `PR_SET_PDEATHSIG(SIGKILL)` and its own process group, so a crash or
//! SIGKILL of the shell kills the engine and `stop` can signal the whole group.
//! Other Unix: the process group only (macOS has no parent-death signal; the engine's
//! stdin-EOF rule covers it). Windows: a Job Object with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`,
//! whose handle the OS closes when the shell dies.

use std::process::{Child, Command, ExitStatus};

/// The set of processes one launch started: a process group on Unix, a job on Windows.
#[derive(Debug)]
pub(crate) struct Group {
    #[cfg(unix)]
    pgid: libc::pid_t,
    #[cfg(windows)]
    windows: windows_job::Handles,
}

/// Prepares `command` before spawning: own process group, parent-death signal.
pub(crate) fn configure(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // pgid = the child's pid: `killpg` then reaches the engine and whatever it started.
        command.process_group(0);
        #[cfg(target_os = "linux")]
        {
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
            // functions (prctl, getppid, _exit); it allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(
                        libc::PR_SET_PDEATHSIG,
                        libc::SIGKILL as libc::c_ulong,
                        0,
                        0,
                        0,
                    ) == -1
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    // If we died between fork and prctl the signal was never sent: the child has
                    // already been re-parented, so it must not start at all.
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        // The shell is a GUI app: without this, python.exe would open a console window.
        command.creation_flags(windows_sys::Win32::System::Threading::CREATE_NO_WINDOW);
    }
}

/// Puts a freshly spawned child under containment.
pub(crate) fn contain(child: &Child) -> std::io::Result<Group> {
    #[cfg(unix)]
    {
        Ok(Group {
            pgid: child.id() as libc::pid_t,
        })
    }
    #[cfg(windows)]
    {
        Ok(Group {
            windows: windows_job::Handles::for_child(child)?,
        })
    }
}

impl Group {
    /// The polite request: SIGTERM to the group (Windows has no equivalent for a windowless
    /// process, so the job is terminated).
    pub(crate) fn terminate(&self) {
        #[cfg(unix)]
        // SAFETY: plain syscall; ESRCH (group already gone) is fine.
        unsafe {
            libc::killpg(self.pgid, libc::SIGTERM);
        }
        #[cfg(windows)]
        self.windows.terminate();
    }

    /// SIGKILL to the whole group (Windows: terminate the job).
    pub(crate) fn kill(&self) {
        #[cfg(unix)]
        // SAFETY: plain syscall; ESRCH (group already gone) is fine.
        unsafe {
            libc::killpg(self.pgid, libc::SIGKILL);
        }
        #[cfg(windows)]
        self.windows.terminate();
    }
}

/// Blocks until `child` has exited. On Linux the child is left unreaped (a zombie), so its pid,
/// which is also the process group id, cannot be reused while the caller still signals it;
/// the caller then reaps with `Child::wait` under its lock. Elsewhere this reaps at once and
/// returns the status.
pub(crate) fn block_until_exit(child: &mut Child) -> Option<ExitStatus> {
    #[cfg(target_os = "linux")]
    {
        loop {
            // SAFETY: siginfo is plain data the kernel fills in.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let result = unsafe {
                libc::waitid(
                    libc::P_PID,
                    child.id() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if result == 0
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return None;
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        child.wait().ok()
    }
}

#[cfg(windows)]
mod windows_job {
    use std::os::windows::io::AsRawHandle;
    use std::process::Child;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
        SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    };
    use windows_sys::Win32::System::Threading::{
        OpenProcess, TerminateProcess, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE,
    };

    /// The job (when the OS let us create and join one) and an own handle to the process, which
    /// also keeps its pid from being reused while we may still terminate it.
    #[derive(Debug)]
    pub(super) struct Handles {
        job: Option<OwnedHandle>,
        process: OwnedHandle,
    }

    #[derive(Debug)]
    struct OwnedHandle(HANDLE);

    // SAFETY: kernel handles may be used from any thread.
    unsafe impl Send for OwnedHandle {}
    unsafe impl Sync for OwnedHandle {}

    impl Drop for OwnedHandle {
        fn drop(&mut self) {
            // SAFETY: we own the handle; closing the job handle is what kills the job.
            unsafe {
                CloseHandle(self.0);
            }
        }
    }

    impl Handles {
        pub(super) fn for_child(child: &Child) -> std::io::Result<Handles> {
            // SAFETY: plain Win32 calls on handles we own or borrow from `child`.
            unsafe {
                let process = OpenProcess(PROCESS_TERMINATE | PROCESS_SYNCHRONIZE, 0, child.id());
                if process.is_null() {
                    return Err(std::io::Error::last_os_error());
                }
                let process = OwnedHandle(process);
                Ok(Handles {
                    job: kill_on_close_job(child.as_raw_handle() as HANDLE),
                    process,
                })
            }
        }

        pub(super) fn terminate(&self) {
            // SAFETY: handles are open for our lifetime.
            unsafe {
                match &self.job {
                    Some(job) => TerminateJobObject(job.0, 1),
                    None => TerminateProcess(self.process.0, 1),
                };
            }
        }
    }

    /// A job that kills its processes when its last handle closes, with `process` in it; `None`
    /// when Windows refuses (then only the process itself can be terminated). Processes the
    /// child starts before it is assigned escape the job; the engine starts none that early.
    unsafe fn kill_on_close_job(process: HANDLE) -> Option<OwnedHandle> {
        let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
        if job.is_null() {
            return None;
        }
        let job = OwnedHandle(job);
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        let set = SetInformationJobObject(
            job.0,
            JobObjectExtendedLimitInformation,
            &limits as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION as *const core::ffi::c_void,
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        );
        if set == 0 || AssignProcessToJobObject(job.0, process) == 0 {
            return None;
        }
        Some(job)
    }
}
