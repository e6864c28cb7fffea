//! systemd's notify protocol (sd_notify), spoken by hand: a datagram of `KEY=value` lines to the
//! socket named by `NOTIFY_SOCKET`. Without that variable (not under systemd) it does nothing.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where to send service state, when systemd asked for it.
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
    pub fn from_env() -> Option<Notifier> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        let name = name.to_str()?;
        let address = match name.strip_prefix('@') {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(abstract_name.as_bytes()).ok()?
            }
            None => SocketAddr::from_pathname(name).ok()?,
        };
        let socket = UnixDatagram::unbound().ok()?;
        Some(Notifier { socket, address })
    }

    /// Sends `state` (e.g. `READY=1\nSTATUS=…`). A failure is logged, never fatal: the service
    /// works the same without a listener.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.address) {
            tracing::debug!(error = %e, "cannot notify systemd");
        }
    }
}

/// How often systemd expects `WATCHDOG=1`, when `WatchdogSec=` is set for this very process:
/// half its timeout, as sd_watchdog_enabled(3) advises.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        let ours = pid.to_str()?.parse::<u32>().ok()? == std::process::id();
        if !ours {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// A status line holds no newline (each line of a message is one assignment).
pub fn status(text: &str) -> String {
    format!("STATUS={}", text.replace('\n', " "))
}
