//! The one HTTP setup of every download (runtime archives, the python-build-standalone
//! archive, the release index and its signature): how the client is built and when a failed
//! try is tried again.

use std::time::Duration;

/// Sent with every download, so a mirror's logs can tell the toolchain's requests apart (the
/// same for every app: which app asked is none of a mirror's business).
pub fn user_agent() -> String {
    format!("{}/{}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

/// Timeouts and retries of one download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries including the first (0 is treated as 1). Default 6.
    pub attempts: u32,
    /// Wait before the first retry, doubled for each further retry. Default 500 ms.
    pub initial_backoff: Duration,
    /// Cap of the doubling wait. Default 8 s.
    pub max_backoff: Duration,
    /// How long to wait for a TCP/TLS connection. Default 15 s.
    pub connect_timeout: Duration,
    /// Stall timeout: the longest wait for the response headers and then for each read of
    /// the body. Not a cap on the whole download. Default 30 s.
    pub read_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// How a [`RetryPolicy::run`] ended without a result.
#[derive(Debug)]
pub struct Failed<E> {
    /// The last try's error.
    pub error: E,
    /// Tries made, the first included.
    pub attempts: u32,
    /// Whether the error was transient and the tries ran out (`false`: a permanent error
    /// stopped them).
    pub exhausted: bool,
}

impl RetryPolicy {
    /// One try with the xtask's pinned-download timeouts: a build that cannot reach the
    /// network falls back (or fails) at once instead of after a minute of retries.
    pub const ONE_SHOT: RetryPolicy = RetryPolicy {
        attempts: 1,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        connect_timeout: Duration::from_secs(30),
        read_timeout: Duration::from_secs(60),
    };

    /// Whether a response with this status may be followed by a successful try: server
    /// errors, 408 Request Timeout and 429 Too Many Requests. Other statuses (404, 403…)
    /// say the same thing every time.
    pub fn is_retryable_status(status: u16) -> bool {
        matches!(status, 408 | 429 | 500..=599)
    }

    /// The client for downloading `url` under this policy's timeouts, with [`user_agent`].
    /// Loopback URLs bypass any proxy of the environment (`HTTP_PROXY`, `ALL_PROXY`): a
    /// proxy cannot reach this machine's loopback.
    pub fn client(&self, url: &str) -> reqwest::Result<reqwest::blocking::Client> {
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(self.connect_timeout)
            // In reqwest 0.12's blocking client this is not a deadline for the whole transfer:
            // it bounds the wait for the response headers and, afresh, every `read` of the
            // body (`impl Read for blocking::Response` wraps each read in `wait::timeout`).
            // That makes it the stall timeout; the blocking builder has no separate
            // `read_timeout`. The test `slow_but_steady_body_is_not_a_stall` pins this.
            .timeout(self.read_timeout)
            .user_agent(user_agent());
        if url::Url::parse(url).is_ok_and(|parsed| crate::url_policy::is_loopback(&parsed)) {
            builder = builder.no_proxy();
        }
        builder.build()
    }

    /// The waits before the second, third… try: `initial_backoff` doubled each time, at most
    /// `max_backoff`.
    pub fn backoffs(&self) -> impl Iterator<Item = Duration> {
        let max = self.max_backoff;
        std::iter::successors(Some(self.initial_backoff.min(max)), move |wait| {
            Some(wait.saturating_mul(2).min(max))
        })
    }

    /// Calls `attempt` until it succeeds, fails with an error `is_transient` refuses, or
    /// [`RetryPolicy::attempts`] tries failed, sleeping [`RetryPolicy::backoffs`] between
    /// tries.
    pub fn run<T, E>(
        &self,
        mut attempt: impl FnMut() -> Result<T, E>,
        is_transient: impl Fn(&E) -> bool,
    ) -> Result<T, Failed<E>> {
        let attempts = self.attempts.max(1);
        let mut backoffs = self.backoffs();
        let mut tried = 0;
        loop {
            tried += 1;
            let error = match attempt() {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let transient = is_transient(&error);
            if !transient || tried >= attempts {
                return Err(Failed {
                    error,
                    attempts: tried,
                    exhausted: transient,
                });
            }
            std::thread::sleep(backoffs.next().unwrap_or(self.max_backoff));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u128> = policy.backoffs().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        let capped = RetryPolicy {
            initial_backoff: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert_eq!(capped.backoffs().next(), Some(Duration::from_secs(8)));
    }

    #[test]
    fn retries_transient_errors_until_the_attempts_run_out() {
        let policy = RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let failed = policy
            .run(
                || -> Result<(), u16> {
                    calls += 1;
                    Err(503)
                },
                |status| RetryPolicy::is_retryable_status(*status),
            )
            .unwrap_err();
        assert_eq!(
            (calls, failed.attempts, failed.exhausted, failed.error),
            (3, 3, true, 503)
        );

        let mut calls = 0;
        let failed = policy
            .run(
                || -> Result<(), u16> {
                    calls += 1;
                    Err(if calls == 1 { 429 } else { 404 })
                },
                |status| RetryPolicy::is_retryable_status(*status),
            )
            .unwrap_err();
        assert_eq!(
            (calls, failed.attempts, failed.exhausted, failed.error),
            (2, 2, false, 404)
        );

        let mut calls = 0;
        let value = policy.run(
            || {
                calls += 1;
                if calls < 3 {
                    Err(500)
                } else {
                    Ok("done")
                }
            },
            |status| RetryPolicy::is_retryable_status(*status),
        );
        assert_eq!(value.unwrap(), "done");
    }

    #[test]
    fn zero_attempts_still_tries_once() {
        let policy = RetryPolicy {
            attempts: 0,
            ..RetryPolicy::ONE_SHOT
        };
        let mut calls = 0;
        let failed = policy
            .run(
                || -> Result<(), u16> {
                    calls += 1;
                    Err(500)
                },
                |_| true,
            )
            .unwrap_err();
        assert_eq!((calls, failed.exhausted), (1, true));
    }

    /// reqwest reads `HTTP_PROXY` and friends when a client is built; a loopback download
    /// must not go through them. The environment is process-wide, so the check runs in a
    /// child process of this test binary running only itself.
    #[test]
    fn loopback_downloads_bypass_the_environments_proxy() {
        if !test_support::in_own_process(
            "http::tests::loopback_downloads_bypass_the_environments_proxy",
        ) {
            return;
        }
        let proxy = test_support::http::Server::answering_any("proxied");
        let origin = test_support::http::Server::answering_any("ours");
        for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
            std::env::set_var(name, proxy.url(""));
        }
        for name in ["NO_PROXY", "no_proxy"] {
            std::env::remove_var(name);
        }
        let url = origin.url("/runtime.tar.zst");
        let client = RetryPolicy::default().client(&url).unwrap();
        let body = client.get(&url).send().unwrap().text().unwrap();
        assert_eq!(body, "ours");
        assert_eq!(proxy.requests().len(), 0);
        let request = &origin.requests()[0];
        assert_eq!(request.header("user-agent"), Some(user_agent().as_str()));
    }

    #[test]
    fn retryable_statuses() {
        for (status, retryable) in [
            (408, true),
            (429, true),
            (500, true),
            (503, true),
            (599, true),
            (400, false),
            (403, false),
            (404, false),
            (416, false),
            (600, false),
        ] {
            assert_eq!(
                RetryPolicy::is_retryable_status(status),
                retryable,
                "{status}"
            );
        }
    }
}
