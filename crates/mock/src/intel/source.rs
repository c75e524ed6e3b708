//! [`MockCollateralSource`]: the mock platform's collateral as a source of
//! the TDX crate's collateral chain, so that a verifier that trusts the
//! mock root explicitly finds collateral for mock quotes without a PCS.

use std::sync::Arc;

use async_trait::async_trait;
use tee_attest_tdx::collateral::{CollateralRequest, CollateralSource};
use tee_attest_tdx::{Clock, Collateral, SystemClock, TdxError};

use super::{MockCollateralOptions, MockIntelPlatform};

/// Collateral for the quotes of one mock platform (its FMSPC and PCK CA),
/// issued a day before the clock's now and valid for 29 more days; nothing
/// for any other platform.
#[derive(Debug, Clone)]
pub struct MockCollateralSource {
    platform: Arc<MockIntelPlatform>,
    clock: Arc<dyn Clock>,
}

impl MockCollateralSource {
    /// The collateral of `platform`, on the system clock.
    pub fn new(platform: Arc<MockIntelPlatform>) -> Self {
        Self {
            platform,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same source on another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl CollateralSource for MockCollateralSource {
    fn name(&self) -> &str {
        "mock-intel"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, TdxError> {
        let config = self.platform.config();
        if req.fmspc != config.fmspc || req.ca != config.ca {
            return Ok(None);
        }
        let opts = MockCollateralOptions::at(self.clock.now());
        match self.platform.collateral(req.tee, &opts) {
            Ok(mut c) => {
                c.source = "mock-intel".into();
                Ok(Some(c))
            }
            Err(e) => Err(TdxError::InvalidInput(format!("mock collateral: {e}"))),
        }
    }
}
