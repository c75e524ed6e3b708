//! Reading an `AttestationInfo` back into evidence (the service's side),
//! within the request limits.

use super::*;

impl AttestationInfo {
    /// The evidence and OS information this document carries. Code 2 for a
    /// field that does not decode (naming it), 17/21 for an empty VCEK chain
    /// or report, 8 for trusted launch (no hardware evidence).
    pub fn to_evidence(&self) -> Result<(Evidence, OsInfo), MaaError> {
        self.to_evidence_with(&RequestLimits::default())
    }

    /// [`AttestationInfo::to_evidence`] within `limits`: code 8 for a
    /// client payload, a chain or a JSON document past them.
    pub fn to_evidence_with(&self, limits: &RequestLimits) -> Result<(Evidence, OsInfo), MaaError> {
        if let Some(p) = &self.client_payload {
            if p.len() > limits.max_client_payload_keys {
                return Err(MaaError::InvalidInput(format!(
                    "ClientPayload has {} members; at most {} are accepted",
                    p.len(),
                    limits.max_client_payload_keys
                )));
            }
            // Values are base64 of at least as many bytes as they decode to.
            let size: usize = p.iter().map(|(k, v)| k.len() + v.len() / 4 * 3).sum();
            if size > limits.max_client_payload_bytes {
                return Err(MaaError::InvalidInput(format!(
                    "ClientPayload is larger than {} bytes",
                    limits.max_client_payload_bytes
                )));
            }
        }
        let text = |field: &str, what: &str| -> Result<String, MaaError> {
            String::from_utf8(b64::decode_field(field, what)?)
                .map_err(|_| MaaError::malformed(what, "not UTF-8 text"))
        };
        if self.protocol_version.trim() != PROTOCOL_VERSION {
            return Err(MaaError::malformed(
                "AttestationProtocolVersion",
                format!(
                    "{:?} is not supported (expected {PROTOCOL_VERSION:?})",
                    self.protocol_version
                ),
            ));
        }
        let os = OsInfo::new(
            text(&self.os_type, "OSType")?,
            text(&self.os_distro, "OSDistro")?,
            self.os_version_major,
            self.os_version_minor,
            text(&self.os_build, "OSBuild")?,
        );
        let iso = &self.isolation_info;
        let ev = iso.evidence.as_ref();
        let (tee, hardware_report, certificates, runtime_data) = match (iso.isolation_type, ev) {
            (IsolationType::SevSnp, Some(ev)) => {
                let proof_json = b64::decode_field(&ev.proof, "IsolationInfo.Evidence.Proof")?;
                check_json_depth(
                    &proof_json,
                    limits.max_json_depth,
                    "IsolationInfo.Evidence.Proof",
                )?;
                let proof: SnpProof = serde_json::from_slice(&proof_json)
                    .map_err(|e| MaaError::json("IsolationInfo.Evidence.Proof", e))?;
                let (report, certs) = proof.decode_with(limits)?;
                let rt =
                    b64::decode_field(&ev.run_time_data, "IsolationInfo.Evidence.RunTimeData")?;
                check_json_depth(
                    &rt,
                    limits.max_json_depth,
                    "IsolationInfo.Evidence.RunTimeData",
                )?;
                (
                    (TeeId::new("azure-snp"), AZURE_GUEST_SNP),
                    report,
                    certs,
                    rt,
                )
            }
            (IsolationType::Tdx, Some(ev)) => {
                let quote = b64::decode_field(&ev.proof, "IsolationInfo.Evidence.Proof")?;
                if quote.is_empty() {
                    return Err(MaaError::EmptyReport);
                }
                let rt =
                    b64::decode_field(&ev.run_time_data, "IsolationInfo.Evidence.RunTimeData")?;
                check_json_depth(
                    &rt,
                    limits.max_json_depth,
                    "IsolationInfo.Evidence.RunTimeData",
                )?;
                (
                    (TeeId::new("azure-tdx"), AZURE_GUEST_TDX),
                    quote,
                    Vec::new(),
                    rt,
                )
            }
            (IsolationType::TrustedLaunch, _) => {
                return Err(MaaError::InvalidInput(
                    "trusted-launch evidence (no hardware isolation) is not supported".into(),
                ))
            }
            (_, None) => {
                return Err(MaaError::malformed(
                    "IsolationInfo.Evidence",
                    "missing for a hardware-isolated VM",
                ))
            }
        };
        let t = &self.tpm_info;
        let field = |v: &str, what: &str| b64::decode_field(v, what);
        let mut pcrs = Vec::with_capacity(t.pcrs.len());
        for (n, p) in t.pcrs.iter().enumerate() {
            pcrs.push((
                p.index,
                field(&p.digest, &format!("TpmInfo.PCRs[{n}].Digest"))?,
            ));
        }
        let indices: Vec<u32> = pcrs.iter().map(|(i, _)| *i).collect();
        if indices != t.pcr_set {
            return Err(MaaError::malformed(
                "TpmInfo.PcrSet",
                format!("{:?} does not list the PCRs sent ({indices:?})", t.pcr_set),
            ));
        }
        let ak_cert = field(&t.aik_cert, "TpmInfo.AikCert")?;
        let mut tpm = TpmEvidence::default();
        tpm.ak_pub = field(&t.aik_pub, "TpmInfo.AikPub")?;
        tpm.ak_cert = (!ak_cert.is_empty()).then_some(ak_cert);
        tpm.quote = field(&t.pcr_quote, "TpmInfo.PcrQuote")?;
        tpm.quote_signature = field(&t.pcr_signature, "TpmInfo.PcrSignature")?;
        tpm.pcrs = pcrs;
        tpm.enc_key_pub = field(&t.enc_key_pub, "TpmInfo.EncKeyPub")?;
        tpm.enc_key_certify_info = field(&t.enc_key_certify_info, "TpmInfo.EncKeyCertifyInfo")?;
        tpm.enc_key_certify_signature = field(
            &t.enc_key_certify_info_signature,
            "TpmInfo.EncKeyCertifyInfoSignature",
        )?;
        for (name, v) in [
            ("TpmInfo.AikPub", &tpm.ak_pub),
            ("TpmInfo.PcrQuote", &tpm.quote),
            ("TpmInfo.PcrSignature", &tpm.quote_signature),
            ("TpmInfo.EncKeyPub", &tpm.enc_key_pub),
            ("TpmInfo.EncKeyCertifyInfo", &tpm.enc_key_certify_info),
            (
                "TpmInfo.EncKeyCertifyInfoSignature",
                &tpm.enc_key_certify_signature,
            ),
        ] {
            if v.is_empty() {
                return Err(MaaError::malformed(name, "empty"));
            }
        }
        let log = field(&self.tcg_logs, "TcgLogs")?;
        let mut client_payload = BTreeMap::new();
        for (k, v) in self.client_payload.iter().flatten() {
            client_payload.insert(k.clone(), text(v, &format!("ClientPayload.{k}"))?);
        }
        let mut evidence = Evidence::new(tee.0, tee.1);
        evidence.hardware_report = hardware_report;
        evidence.certificates = certificates;
        evidence.runtime_data = runtime_data;
        evidence.tpm = Some(tpm);
        evidence.event_log = (!log.is_empty()).then_some(log);
        evidence.client_payload = client_payload;
        Ok((evidence, os))
    }
}
