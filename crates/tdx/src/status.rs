//! TCB statuses and how Intel's Quote Verification Library combines them
//! (`TcbLevelCheck.cpp`, `TdxModuleCheck.cpp`, `TDRelaunchCheck.cpp`).
//!
//! Convergence, as Intel does it (not "worst wins"): only an OutOfDate or
//! Revoked QE or TDX-module status changes the platform status —
//! UpToDate/SWHardeningNeeded become OutOfDate,
//! ConfigurationNeeded/ConfigurationAndSWHardeningNeeded become
//! OutOfDateConfigurationNeeded, and Revoked wins.

use std::fmt;
use std::str::FromStr;

/// A TCB status, with Intel's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcbStatus {
    /// The TCB is up to date.
    UpToDate,
    /// Up to date, but software hardening is needed against some advisories.
    SwHardeningNeeded,
    /// Up to date, but the platform's configuration needs changing.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSwHardeningNeeded,
    /// Out of date.
    OutOfDate,
    /// Out of date, and the configuration needs changing.
    OutOfDateConfigurationNeeded,
    /// TD 1.5: the TDX module was updated under the running TD; relaunching
    /// the TD would make it up to date.
    TdRelaunchAdvised,
    /// TD 1.5: as above, and the configuration needs changing.
    TdRelaunchAdvisedConfigurationNeeded,
    /// Revoked.
    Revoked,
}

impl TcbStatus {
    /// Every status.
    pub const ALL: &'static [TcbStatus] = &[
        TcbStatus::UpToDate,
        TcbStatus::SwHardeningNeeded,
        TcbStatus::ConfigurationNeeded,
        TcbStatus::ConfigurationAndSwHardeningNeeded,
        TcbStatus::OutOfDate,
        TcbStatus::OutOfDateConfigurationNeeded,
        TcbStatus::TdRelaunchAdvised,
        TcbStatus::TdRelaunchAdvisedConfigurationNeeded,
        TcbStatus::Revoked,
    ];

    /// Intel's name (`UpToDate`, `SWHardeningNeeded`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SwHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSwHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::TdRelaunchAdvised => "TDRelaunchAdvised",
            TcbStatus::TdRelaunchAdvisedConfigurationNeeded => {
                "TDRelaunchAdvisedConfigurationNeeded"
            }
            TcbStatus::Revoked => "Revoked",
        }
    }

    /// Whether the status says the configuration needs changing (Intel's
    /// `isConfigurationNeeded`).
    pub fn configuration_needed(self) -> bool {
        matches!(
            self,
            TcbStatus::ConfigurationNeeded
                | TcbStatus::OutOfDateConfigurationNeeded
                | TcbStatus::ConfigurationAndSwHardeningNeeded
                | TcbStatus::TdRelaunchAdvisedConfigurationNeeded
        )
    }

    /// The statuses a TCB info level may carry (the relaunch statuses are
    /// results only).
    pub fn valid_in_tcb_info(self) -> bool {
        !matches!(
            self,
            TcbStatus::TdRelaunchAdvised | TcbStatus::TdRelaunchAdvisedConfigurationNeeded
        )
    }

    /// The statuses a TDX module identity level may carry.
    pub fn valid_in_module_identity(self) -> bool {
        matches!(
            self,
            TcbStatus::UpToDate | TcbStatus::OutOfDate | TcbStatus::Revoked
        )
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TcbStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TcbStatus::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown TCB status {s:?}"))
    }
}

/// A component's status (QE, TDX module) as it enters convergence: only
/// OutOfDate and Revoked change the platform status (Intel's
/// `convergeTcbStatuses`, `EvaluateTcb.cpp`); any other status of the
/// component's level leaves it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QeTcb {
    /// UpToDate, or a status that does not change the platform's
    /// (ConfigurationNeeded, OutOfDateConfigurationNeeded of a QE level).
    UpToDate,
    /// OutOfDate.
    OutOfDate,
    /// Revoked.
    Revoked,
}

impl QeTcb {
    /// The component's effect from its level's status.
    pub fn from_status(s: TcbStatus) -> Self {
        match s {
            TcbStatus::OutOfDate => QeTcb::OutOfDate,
            TcbStatus::Revoked => QeTcb::Revoked,
            _ => QeTcb::UpToDate,
        }
    }
}

/// The platform status with an OutOfDate or Revoked component status
/// (`convergeTcbStatusWithTdxModuleStatus`,
/// `convergeTcbStatusWithQeTcbStatus`): `component` is the module's or
/// the QE's status.
pub fn converge(platform: TcbStatus, component: QeTcb) -> TcbStatus {
    match component {
        QeTcb::Revoked => TcbStatus::Revoked,
        QeTcb::OutOfDate => match platform {
            TcbStatus::UpToDate | TcbStatus::SwHardeningNeeded => TcbStatus::OutOfDate,
            TcbStatus::ConfigurationNeeded | TcbStatus::ConfigurationAndSwHardeningNeeded => {
                TcbStatus::OutOfDateConfigurationNeeded
            }
            other => other,
        },
        QeTcb::UpToDate => platform,
    }
}

/// The facts the TD 1.5 relaunch check (`checkForRelaunch`) looks at.
#[derive(Debug, Clone, Copy)]
pub struct RelaunchFacts {
    /// TEE_TCB_SVN2 of the quote.
    pub tee_tcb_svn2: [u8; 16],
    /// The SGX TCB level's status.
    pub sgx_status: TcbStatus,
    /// The TDX status after convergence with the module's.
    pub tdx_status: TcbStatus,
    /// The module's status.
    pub module_status: TcbStatus,
    /// The QE's status.
    pub qe: QeTcb,
    /// The tdxtcbcomponents of the first (highest) TCB level.
    pub latest_tdx_components: [u8; 16],
    /// The highest ISVSVN of the module identity `TDX_%02X` of
    /// TEE_TCB_SVN2[1], when [1] is not zero: `Some(None)` when that identity
    /// is missing or has no levels.
    pub latest_module2_isvsvn: Option<Option<u8>>,
}

/// The relaunch outcome: the status after the check, or `None` when the
/// module identity of TEE_TCB_SVN2 is missing (Intel: TDX module mismatch).
pub fn relaunch(f: &RelaunchFacts) -> Option<TcbStatus> {
    let platform_fine = matches!(
        f.sgx_status,
        TcbStatus::UpToDate
            | TcbStatus::SwHardeningNeeded
            | TcbStatus::ConfigurationNeeded
            | TcbStatus::ConfigurationAndSwHardeningNeeded
    );
    let tdx_out = matches!(
        f.tdx_status,
        TcbStatus::OutOfDate | TcbStatus::OutOfDateConfigurationNeeded
    );
    if f.qe != QeTcb::UpToDate
        || !platform_fine
        || !tdx_out
        || f.module_status != TcbStatus::OutOfDate
    {
        return Some(f.tdx_status);
    }
    let svn2 = f.tee_tcb_svn2;
    let module_ok = if svn2[1] == 0 {
        svn2[0] >= f.latest_tdx_components[0]
    } else {
        match f.latest_module2_isvsvn {
            Some(Some(isvsvn)) => svn2[0] >= isvsvn,
            _ => return None,
        }
    };
    if module_ok && svn2[2] >= f.latest_tdx_components[2] {
        if f.sgx_status.configuration_needed() || f.tdx_status.configuration_needed() {
            Some(TcbStatus::TdRelaunchAdvisedConfigurationNeeded)
        } else {
            Some(TcbStatus::TdRelaunchAdvised)
        }
    } else {
        Some(f.tdx_status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in TcbStatus::ALL {
            assert_eq!(s.as_str().parse::<TcbStatus>(), Ok(*s));
        }
        assert!("Fine".parse::<TcbStatus>().is_err());
    }

    #[test]
    fn convergence_is_intels() {
        use TcbStatus::*;
        assert_eq!(converge(UpToDate, QeTcb::OutOfDate), OutOfDate);
        assert_eq!(converge(SwHardeningNeeded, QeTcb::OutOfDate), OutOfDate);
        assert_eq!(
            converge(ConfigurationNeeded, QeTcb::OutOfDate),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(
            converge(ConfigurationAndSwHardeningNeeded, QeTcb::OutOfDate),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(converge(OutOfDate, QeTcb::OutOfDate), OutOfDate);
        assert_eq!(
            converge(ConfigurationNeeded, QeTcb::UpToDate),
            ConfigurationNeeded
        );
        assert_eq!(converge(UpToDate, QeTcb::Revoked), Revoked);
        // Only OutOfDate and Revoked components change the platform status.
        assert_eq!(QeTcb::from_status(ConfigurationNeeded), QeTcb::UpToDate);
        assert_eq!(
            QeTcb::from_status(OutOfDateConfigurationNeeded),
            QeTcb::UpToDate
        );
        assert_eq!(QeTcb::from_status(OutOfDate), QeTcb::OutOfDate);
    }

    fn facts(svn2: [u8; 16], module2: Option<Option<u8>>) -> RelaunchFacts {
        RelaunchFacts {
            tee_tcb_svn2: svn2,
            sgx_status: TcbStatus::UpToDate,
            tdx_status: TcbStatus::OutOfDate,
            module_status: TcbStatus::OutOfDate,
            qe: QeTcb::UpToDate,
            latest_tdx_components: [5, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            latest_module2_isvsvn: module2,
        }
    }

    #[test]
    fn relaunch_advised_when_svn2_reaches_the_latest_level() {
        let mut svn2 = [0u8; 16];
        svn2[0] = 5;
        svn2[2] = 3;
        assert_eq!(
            relaunch(&facts(svn2, None)),
            Some(TcbStatus::TdRelaunchAdvised)
        );
        svn2[2] = 2;
        assert_eq!(relaunch(&facts(svn2, None)), Some(TcbStatus::OutOfDate));
        // Module major version in [1]: the module identity's latest ISVSVN counts.
        let svn2 = [4, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            relaunch(&facts(svn2, Some(Some(4)))),
            Some(TcbStatus::TdRelaunchAdvised)
        );
        assert_eq!(
            relaunch(&facts(svn2, Some(Some(5)))),
            Some(TcbStatus::OutOfDate)
        );
        assert_eq!(relaunch(&facts(svn2, Some(None))), None);
        let mut f = facts(svn2, Some(Some(4)));
        f.sgx_status = TcbStatus::ConfigurationNeeded;
        assert_eq!(
            relaunch(&f),
            Some(TcbStatus::TdRelaunchAdvisedConfigurationNeeded)
        );
        f.qe = QeTcb::OutOfDate;
        assert_eq!(relaunch(&f), Some(TcbStatus::OutOfDate));
    }
}
