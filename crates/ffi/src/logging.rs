//! The log callback: the library's own messages and the `tracing` events of
//! the crates underneath, delivered to C during a call, on the calling
//! thread.

use std::ffi::{c_void, CString};
use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::{
    TeeAttestLogCallback, TEE_ATTEST_LOG_DEBUG, TEE_ATTEST_LOG_ERROR, TEE_ATTEST_LOG_INFO,
    TEE_ATTEST_LOG_TRACE, TEE_ATTEST_LOG_WARN,
};

/// The caller's `user_data`, passed back untouched.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);

// SAFETY: the library never dereferences `user_data`; it only hands it back
// to the caller's callback. The header documents that the callback is called
// on whichever thread makes a call with the client, so the caller guarantees
// that `user_data` may be used from those threads.
unsafe impl Send for UserData {}
// SAFETY: as for `Send`: the pointer is only copied, never dereferenced.
unsafe impl Sync for UserData {}

/// Where log messages go.
#[derive(Clone)]
pub(crate) struct Logger {
    callback: TeeAttestLogCallback,
    user_data: UserData,
    max_level: u32,
}

impl Logger {
    /// A logger for `callback` (none: messages are dropped), delivering
    /// levels up to `max_level` (0: info).
    pub(crate) fn new(
        callback: TeeAttestLogCallback,
        user_data: *mut c_void,
        max_level: u32,
    ) -> Self {
        let max_level = match max_level {
            0 => TEE_ATTEST_LOG_INFO,
            l => l.min(TEE_ATTEST_LOG_TRACE),
        };
        Self {
            callback,
            user_data: UserData(user_data),
            max_level,
        }
    }

    fn enabled(&self, level: u32) -> bool {
        self.callback.is_some() && level <= self.max_level
    }

    /// Deliver one message. Messages never carry secrets: they are the
    /// library's own, or events of crates that promise the same.
    pub(crate) fn log(&self, level: u32, message: &str) {
        let Some(callback) = self.callback else {
            return;
        };
        if !self.enabled(level) {
            return;
        }
        let text = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
        // SAFETY: the caller registered `callback` as a function with this
        // signature; `text` is a valid NUL-terminated string that lives
        // until the call returns; `user_data` is the caller's own pointer.
        unsafe { callback(self.user_data.0, level, text.as_ptr()) }
    }

    /// A `tracing` dispatcher that forwards events to this logger.
    pub(crate) fn dispatch(&self) -> tracing::Dispatch {
        tracing::Dispatch::new(tracing_subscriber::registry().with(CallbackLayer(self.clone())))
    }
}

fn level_number(level: &Level) -> u32 {
    match *level {
        Level::ERROR => TEE_ATTEST_LOG_ERROR,
        Level::WARN => TEE_ATTEST_LOG_WARN,
        Level::INFO => TEE_ATTEST_LOG_INFO,
        Level::DEBUG => TEE_ATTEST_LOG_DEBUG,
        _ => TEE_ATTEST_LOG_TRACE,
    }
}

struct CallbackLayer(Logger);

#[derive(Default)]
struct Message {
    message: String,
    fields: String,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for CallbackLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.0.enabled(level_number(metadata.level()))
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut msg = Message::default();
        event.record(&mut msg);
        self.0.log(
            level_number(meta.level()),
            &format!("{}: {}{}", meta.target(), msg.message, msg.fields),
        );
    }
}
