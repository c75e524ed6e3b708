//! Named fault-injection points (docs/RELIABILITY.md, "Faults").
//!
//! Code that writes state or talks to a device marks the moments a crash
//! or a failure matters with a named point — `policy.write.after_temp`,
//! `keyrelease.create.after_insert`, `tpm.command` — and the fault tests
//! choose, through the environment, what happens there:
//!
//! ```text
//! TEE_ATTEST_FAULT=<point>[:<action>][@<n>][,<point>[:<action>][@<n>]…]
//! ```
//!
//! | action | at the point |
//! |---|---|
//! | `abort` (the default) | the process kills itself with `SIGKILL`: no destructor, no flush, as `kill -9` |
//! | `stop` | the process stops itself with `SIGSTOP` until someone sends `SIGCONT` (the test does what it wants in between) |
//! | `sleep=MS` | sleeps `MS` milliseconds, then goes on |
//! | `fail` | a fallible point returns an error ("fault injected at …"); other points ignore it |
//! | `enospc` | a fallible point returns `ENOSPC` ("No space left on device") |
//!
//! `@n` fires at the `n`-th time the process reaches the point (counting
//! from 1) and only then; without it, every time. Each firing is written to
//! standard error (`tee-attest: fault injected at POINT: ACTION`).
//!
//! **Compiled in only with the feature `fault-injection`** (off by
//! default; the CLI's tests turn it on through a dev-dependency). Without
//! it every function here is empty and inlined away: the variable is never
//! read, no point costs anything.

/// The variable naming the faults to inject.
pub const ENV: &str = "TEE_ATTEST_FAULT";

/// Whether fault injection is compiled in.
#[inline(always)]
pub const fn enabled() -> bool {
    cfg!(feature = "fault-injection")
}

/// A point where a crash or a stall may be injected (`abort`, `stop`,
/// `sleep`); `fail` and `enospc` are ignored here.
#[inline(always)]
pub fn point(name: &str) {
    #[cfg(feature = "fault-injection")]
    {
        let _ = imp::hit(name, "");
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = name;
}

/// A point that can also be made to fail (`fail`, `enospc`): the error is
/// to be returned as the I/O at that point would return it.
#[inline(always)]
pub fn fallible(name: &str) -> std::io::Result<()> {
    fallible_at(name, "")
}

/// [`fallible`] for the point `scope.step` (a helper shared by several
/// callers names its point after the caller's scope).
#[inline(always)]
pub fn fallible_at(scope: &str, step: &str) -> std::io::Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        imp::hit(scope, step)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = (scope, step);
        Ok(())
    }
}

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Action {
        Abort,
        Stop,
        Sleep(u64),
        Fail,
        NoSpace,
    }

    #[derive(Debug)]
    struct Rule {
        point: String,
        action: Action,
        nth: Option<u64>,
        hits: AtomicU64,
    }

    fn parse(spec: &str) -> Vec<Rule> {
        let mut rules = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (rest, nth) = match item.rsplit_once('@') {
                Some((r, n)) => match n.parse::<u64>() {
                    Ok(n) if n > 0 => (r, Some(n)),
                    _ => {
                        eprintln!("tee-attest: {}: ignored {item:?}: bad @n", super::ENV);
                        continue;
                    }
                },
                None => (item, None),
            };
            let (point, action) = rest.split_once(':').unwrap_or((rest, "abort"));
            let action = match action {
                "abort" | "kill" => Action::Abort,
                "stop" => Action::Stop,
                "fail" => Action::Fail,
                "enospc" => Action::NoSpace,
                a => match a.strip_prefix("sleep=").map(str::parse::<u64>) {
                    Some(Ok(ms)) => Action::Sleep(ms),
                    _ => {
                        eprintln!(
                            "tee-attest: {}: ignored {item:?}: unknown action",
                            super::ENV
                        );
                        continue;
                    }
                },
            };
            rules.push(Rule {
                point: point.to_string(),
                action,
                nth,
                hits: AtomicU64::new(0),
            });
        }
        rules
    }

    fn rules() -> &'static [Rule] {
        static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
        RULES.get_or_init(|| {
            std::env::var(super::ENV)
                .map(|s| parse(&s))
                .unwrap_or_default()
        })
    }

    fn matches(rule: &str, scope: &str, step: &str) -> bool {
        if step.is_empty() {
            return rule == scope;
        }
        rule.len() == scope.len() + 1 + step.len()
            && rule.starts_with(scope)
            && rule.as_bytes()[scope.len()] == b'.'
            && rule.ends_with(step)
    }

    fn signal_self(sig: rustix::process::Signal) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), sig);
    }

    /// Failing is the caller's to honour: [`super::point`] drops the
    /// error, [`super::fallible`] returns it.
    pub(super) fn hit(scope: &str, step: &str) -> std::io::Result<()> {
        for r in rules() {
            if !matches(&r.point, scope, step) {
                continue;
            }
            let n = r.hits.fetch_add(1, Ordering::SeqCst) + 1;
            if r.nth.is_some_and(|want| want != n) {
                continue;
            }
            eprintln!(
                "tee-attest: fault injected at {} (hit {n}): {:?}",
                r.point, r.action
            );
            match r.action {
                Action::Abort => {
                    signal_self(rustix::process::Signal::KILL);
                    // SIGKILL is not delivered asynchronously to ourselves
                    // in any way that returns; should it ever, abort.
                    std::process::abort();
                }
                Action::Stop => signal_self(rustix::process::Signal::STOP),
                Action::Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
                Action::Fail => {
                    return Err(std::io::Error::other(format!(
                        "fault injected at {}",
                        r.point
                    )))
                }
                Action::NoSpace => {
                    return Err(std::io::Error::from_raw_os_error(
                        rustix::io::Errno::NOSPC.raw_os_error(),
                    ))
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn specs_parse_and_points_match() {
            let r = parse("a.b:stop@3, c.d , e:sleep=5,f:fail,g:enospc,h:bogus,i@x");
            let got: Vec<_> = r
                .iter()
                .map(|r| (r.point.as_str(), r.action, r.nth))
                .collect();
            assert_eq!(
                got,
                [
                    ("a.b", Action::Stop, Some(3)),
                    ("c.d", Action::Abort, None),
                    ("e", Action::Sleep(5), None),
                    ("f", Action::Fail, None),
                    ("g", Action::NoSpace, None),
                ]
            );
            assert!(matches(
                "policy.write.after_temp",
                "policy.write",
                "after_temp"
            ));
            assert!(!matches(
                "policy.write.after_temp",
                "policy.writ",
                "after_temp"
            ));
            assert!(!matches(
                "policy.writeXafter_temp",
                "policy.write",
                "after_temp"
            ));
            assert!(matches("tpm.command", "tpm.command", ""));
            assert!(!matches("tpm.command", "tpm", ""));
        }
    }
}
