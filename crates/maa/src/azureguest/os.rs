//! The operating-system facts the AzureGuest protocol carries, read from
//! `/etc/os-release` and `uname`.

use super::*;

/// The operating-system facts the AzureGuest protocol carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OsInfo {
    /// `Linux` or `Windows` (Microsoft's client sends `Unknown` otherwise).
    pub os_type: String,
    /// The distribution's name (os-release `NAME`, e.g. `Ubuntu`).
    pub distro: String,
    /// Major version (os-release `VERSION_ID` before the first dot; 1 when
    /// absent, as Microsoft's client).
    pub version_major: u32,
    /// Minor version (after the first dot; 0 when absent).
    pub version_minor: u32,
    /// The build: the kernel release on Linux (`uname -r`; Microsoft's Linux
    /// client sends a constant the service ignores).
    pub build: String,
}

impl OsInfo {
    /// OS information from its parts.
    pub fn new(
        os_type: impl Into<String>,
        distro: impl Into<String>,
        version_major: u32,
        version_minor: u32,
        build: impl Into<String>,
    ) -> Self {
        Self {
            os_type: os_type.into(),
            distro: distro.into(),
            version_major,
            version_minor,
            build: build.into(),
        }
    }

    /// Linux OS information from the text of an os-release file and the
    /// kernel release (`uname -r`), if known. Code 11 when `NAME`/`ID` is
    /// missing.
    pub fn from_os_release(
        os_release: &str,
        kernel_release: Option<&str>,
    ) -> Result<Self, MaaError> {
        let mut fields = BTreeMap::new();
        for line in os_release.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().trim_matches('"').trim_matches('\'');
                fields.insert(k.trim().to_string(), v.to_string());
            }
        }
        let distro = fields
            .get("NAME")
            .or_else(|| fields.get("ID"))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| MaaError::OsInfo("os-release has neither NAME nor ID".into()))?
            .clone();
        // Like Microsoft's client: a missing or unreadable VERSION_ID is 1.0.
        let version = fields
            .get("VERSION_ID")
            .map(String::as_str)
            .unwrap_or("1.0");
        let mut parts = version.split('.');
        let mut num = || {
            parts.next().and_then(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u32>().ok()
            })
        };
        let (major, minor) = match num() {
            Some(major) => (major, num().unwrap_or(0)),
            None => (1, 0),
        };
        let build = kernel_release
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("NotApplicable");
        Ok(Self::new("Linux", distro, major, minor, build))
    }

    /// Reads `/etc/os-release` (or `/usr/lib/os-release`) and
    /// `/proc/sys/kernel/osrelease`. Code 11 when neither os-release file is
    /// readable.
    pub fn detect() -> Result<Self, MaaError> {
        let text = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .map_err(|e| MaaError::OsInfo(format!("reading os-release: {e}")))?;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok();
        Self::from_os_release(&text, kernel.as_deref())
    }
}
