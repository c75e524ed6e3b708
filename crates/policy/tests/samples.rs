//! The example policies of SPEC.md and of MAA's public documentation parse
//! and evaluate to their documented outcome; the samples that carry typos
//! MAA itself rejects are refused with a located error.

use serde_json::json;
use tee_attest_policy::{ClaimSet, ClaimValue, Issuer, Policy, SectionKind};

const AS: Issuer = Issuer::AttestationService;

fn parse(text: &str) -> Policy {
    match Policy::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("policy should parse: {e}\n{text}"),
    }
}

fn out_value(o: &tee_attest_policy::Outcome, t: &str) -> Option<serde_json::Value> {
    o.outgoing_json().get(t).cloned()
}

/// SPEC.md §6: key rotation by permitting old and new signers side by side.
const SPEC_SGX_ROTATION: &str = r#"version= 1.0;
authorizationrules
{
[ type=="x-ms-sgx-is-debuggable", value==false] &&
[ type=="x-ms-sgx-mrsigner", value=="mrsigner1"] => permit();
[ type=="x-ms-sgx-is-debuggable", value==false ] &&
[ type=="x-ms-sgx-mrsigner", value=="mrsigner2"] => permit();
};
"#;

#[test]
fn spec_sgx_rotation_permits_both_signers_and_nothing_else() {
    let p = parse(SPEC_SGX_ROTATION);
    let claims = |signer: &str, dbg: bool| {
        ClaimSet::new()
            .with("x-ms-sgx-is-debuggable", dbg, AS)
            .with("x-ms-sgx-mrsigner", signer, AS)
    };
    let o = p.evaluate(&claims("mrsigner1", false)).unwrap();
    assert!(o.authorized);
    let r = o.decided_by.unwrap();
    assert_eq!(
        (r.section, r.index, r.line),
        (SectionKind::Authorization, 1, 4)
    );

    let o = p.evaluate(&claims("mrsigner2", false)).unwrap();
    assert!(o.authorized);
    assert_eq!(o.decided_by.unwrap().index, 2);
    assert_eq!(o.decided_by.unwrap().line, 6);

    let o = p.evaluate(&claims("mrsigner3", false)).unwrap();
    assert!(!o.authorized);
    assert_eq!(o.decided_by, None);
    assert!(o.summary().contains("no authorization rule"));

    assert!(!p.evaluate(&claims("mrsigner1", true)).unwrap().authorized);
    // After rotation the old signer is dropped.
    let rotated = SPEC_SGX_ROTATION.replace(
        "[ type==\"x-ms-sgx-is-debuggable\", value==false] &&\n[ type==\"x-ms-sgx-mrsigner\", value==\"mrsigner1\"] => permit();\n",
        "",
    );
    let p2 = parse(&rotated);
    assert!(!p2.evaluate(&claims("mrsigner1", false)).unwrap().authorized);
    assert!(p2.evaluate(&claims("mrsigner2", false)).unwrap().authorized);
}

#[test]
fn docs_sgx_custom_policy() {
    // policy-examples: "Sample custom policy for an SGX enclave", with the
    // <product-id>/<mrsigner>/<custom-name> placeholders filled in.
    let p = parse(
        r#"version= 1.0;
authorizationrules
{
       [ type=="x-ms-sgx-is-debuggable", value==false ]
        && [ type=="x-ms-sgx-product-id", value==1 ]
        && [ type=="x-ms-sgx-svn", value>= 0 ]
        && [ type=="x-ms-sgx-mrsigner", value=="abcd"]
    => permit();
};
issuancerules {
c:[type=="x-ms-sgx-mrsigner"] => issue(type="my-signer", value=c.value);
};
"#,
    );
    let good = ClaimSet::new()
        .with("x-ms-sgx-is-debuggable", false, AS)
        .with("x-ms-sgx-product-id", 1, AS)
        .with("x-ms-sgx-svn", 2, AS)
        .with("x-ms-sgx-mrsigner", "abcd", AS);
    let o = p.evaluate(&good).unwrap();
    assert!(o.authorized);
    assert_eq!(out_value(&o, "my-signer"), Some(json!("abcd")));
    assert_eq!(o.outgoing[0].issuer, Issuer::AttestationPolicy);

    let low_svn = ClaimSet::new()
        .with("x-ms-sgx-is-debuggable", false, AS)
        .with("x-ms-sgx-product-id", 1, AS)
        .with("x-ms-sgx-svn", -1, AS)
        .with("x-ms-sgx-mrsigner", "abcd", AS);
    let o = p.evaluate(&low_svn).unwrap();
    assert!(!o.authorized);
    assert!(
        o.outgoing.is_empty(),
        "issuance rules do not run when refused"
    );
}

#[test]
fn docs_sgx_default_policy_1_1() {
    let p = parse(
        "version= 1.1;
configurationrules{
\t=> issueproperty(type=\"x-ms-sgx-tcbidentifier\", value=\"azuredefault\");
};
authorizationrules{
\t=> permit();
};
issuancerules{
\tc:[type==\"x-ms-sgx-is-debuggable\"] => issue(type=\"is-debuggable\", value=c.value);
\tc:[type==\"x-ms-sgx-mrsigner\"] => issue(type=\"sgx-mrsigner\", value=c.value);
\tc:[type==\"x-ms-sgx-mrenclave\"] => issue(type=\"sgx-mrenclave\", value=c.value);
\tc:[type==\"x-ms-sgx-product-id\"] => issue(type=\"product-id\", value=c.value);
\tc:[type==\"x-ms-sgx-svn\"] => issue(type=\"svn\", value=c.value);
\tc:[type==\"x-ms-attestation-type\"] => issue(type=\"tee\", value=c.value);
};",
    );
    let claims = ClaimSet::new()
        .with("x-ms-sgx-is-debuggable", true, AS)
        .with("x-ms-sgx-mrsigner", "s", AS)
        .with("x-ms-sgx-product-id", 7, AS)
        .with("x-ms-attestation-type", "sgx", AS);
    let o = p.evaluate(&claims).unwrap();
    assert!(o.authorized);
    assert_eq!(
        o.configuration.sgx_tcb_identifier.as_deref(),
        Some("azuredefault")
    );
    let j = o.outgoing_json();
    assert_eq!(j["is-debuggable"], json!(true));
    assert_eq!(j["product-id"], json!(7));
    assert_eq!(j["tee"], json!("sgx"));
    assert!(!j.contains_key("svn"), "no svn claim came in");
}

#[test]
fn docs_multiple_sgx_enclaves() {
    let p = parse(
        "version= 1.0;
authorizationrules 
{
\t[ type==\"x-ms-sgx-is-debuggable\", value==true ]&&
\t[ type==\"x-ms-sgx-mrsigner\", value==\"mrsigner1\"] => permit(); 
\t[ type==\"x-ms-sgx-is-debuggable\", value==true ]&& 
\t[ type==\"x-ms-sgx-mrsigner\", value==\"mrsigner2\"] => permit(); 
};",
    );
    let c = ClaimSet::new()
        .with("x-ms-sgx-is-debuggable", true, AS)
        .with("x-ms-sgx-mrsigner", "mrsigner2", AS);
    assert!(p.evaluate(&c).unwrap().authorized);
}

const TPM_1_0: &str = r#"version=1.0;

authorizationrules { 
    => permit();
};

issuancerules
{
[type=="aikValidated", value==true]&& 
[type=="secureBootEnabled", value==true] &&
[type=="bootDebuggingDisabled", value==true] && 
[type=="vbsEnabled", value==true] && 
[type=="notWinPE", value==true] && 
[type=="notSafeMode", value==true] => issue(type="PlatformAttested", value=true);
};
"#;

fn tpm_claims(aik: bool) -> ClaimSet {
    ClaimSet::new()
        .with("aikValidated", aik, AS)
        .with("secureBootEnabled", true, AS)
        .with("bootDebuggingDisabled", true, AS)
        .with("vbsEnabled", true, AS)
        .with("notWinPE", true, AS)
        .with("notSafeMode", true, AS)
}

#[test]
fn docs_tpm_1_0() {
    let p = parse(TPM_1_0);
    let o = p.evaluate(&tpm_claims(true)).unwrap();
    assert!(o.authorized);
    assert_eq!(out_value(&o, "PlatformAttested"), Some(json!(true)));
    let o = p.evaluate(&tpm_claims(false)).unwrap();
    assert!(o.authorized, "issuance rules cannot fail attestation");
    assert_eq!(out_value(&o, "PlatformAttested"), None);
}

#[test]
fn docs_tpm_1_1_with_required_pcr_mask() {
    let p = parse(
        r#"version=1.1;

configurationrules{
=> issueproperty(type = "required_pcr_mask", value = 15);
=> issueproperty(type = "require_valid_aik_cert", value = false);
};

authorizationrules { 
    => permit();
};


issuancerules
{
[type=="aikValidated", value==true]&& 
[type=="secureBootEnabled", value==true] &&
[type=="bootDebuggingDisabled", value==true] && 
[type=="notSafeMode", value==true] => issue(type="PlatformAttested", value=true);

[type=="aikValidated", value==false]&& 
[type=="secureBootEnabled", value==true] &&
[type=="bootDebuggingDisabled", value==true] && 
[type=="notSafeMode", value==true] => issue(type="PlatformAttested", value=false);
};
"#,
    );
    let o = p.evaluate(&tpm_claims(false)).unwrap();
    assert!(o.authorized);
    assert_eq!(o.configuration.required_pcr_mask, Some(15));
    assert_eq!(o.configuration.required_pcr_mask(), 15);
    assert!(!o.configuration.require_valid_aik_cert());
    assert_eq!(out_value(&o, "PlatformAttested"), Some(json!(false)));
    let o = p.evaluate(&tpm_claims(true)).unwrap();
    assert_eq!(out_value(&o, "PlatformAttested"), Some(json!(true)));
    // Defaults when a policy sets nothing.
    let o = parse(TPM_1_0).evaluate(&tpm_claims(true)).unwrap();
    assert_eq!(o.configuration.required_pcr_mask(), 0xFF_FFFF);
    assert!(o.configuration.require_valid_aik_cert());
    assert_eq!(o.properties.validity_minutes(), 1440);
}

/// The secure-boot sample of "Claim rule functions" (policy version 1.2),
/// with the sample's `issuer="AttestationPolicy"` typo corrected to `==`
/// (MAA refuses the typo; see `docs_typos_are_refused`).
const SECURE_BOOT_1_2: &str = r#"version=1.2;

authorizationrules { 
  => permit();
};


issuancerules
{

c:[type == "events", issuer=="AttestationService"] => add(type = "efiConfigVariables", value = JmesPath(c.value, "Events[?EventTypeString == 'EV_EFI_VARIABLE_DRIVER_CONFIG' && ProcessedData.VariableGuid == '8BE4DF61-93CA-11D2-AA0D-00E098032B8C']"));

c:[type=="efiConfigVariables", issuer=="AttestationPolicy"]=> issue(type = "secureBootEnabled", value = JsonToClaimValue(JmesPath(c.value, "[?ProcessedData.UnicodeName == 'SecureBoot'] | length(@) == `1` && @[0].ProcessedData.VariableData == 'AQ'")));
![type=="secureBootEnabled", issuer=="AttestationPolicy"] => issue(type="secureBootEnabled", value=false);

};
"#;

fn events(secure_boot_data: &str) -> ClaimSet {
    let ev = json!({"Events": [
        {"EventSeq": 1, "EventTypeString": "EV_EFI_VARIABLE_DRIVER_CONFIG", "PcrIndex": 7,
         "ProcessedData": {"VariableGuid": "8BE4DF61-93CA-11D2-AA0D-00E098032B8C",
                           "UnicodeName": "SecureBoot", "VariableData": secure_boot_data}},
        {"EventSeq": 2, "EventTypeString": "EV_EFI_VARIABLE_DRIVER_CONFIG", "PcrIndex": 7,
         "ProcessedData": {"VariableGuid": "8BE4DF61-93CA-11D2-AA0D-00E098032B8C",
                           "UnicodeName": "PK", "VariableData": "MIIB"}},
        {"EventSeq": 3, "EventTypeString": "EV_EVENT_TAG", "PcrIndex": 12,
         "ProcessedData": {"EVENT_TRUSTBOUNDARY": {"EVENT_CODEINTEGRITY": true,
            "EVENT_LOADEDMODULE_AGGREGATION": [
               {"EVENT_IMAGEVALIDATED": true, "EVENT_FILEPATH": "\\Windows\\System32\\Drivers\\WdBoot.sys"}]}}},
        {"EventSeq": 4, "EventTypeString": "EV_EVENT_TAG", "PcrIndex": 13,
         "ProcessedData": {"EVENT_TRUSTBOUNDARY": {"EVENT_CODEINTEGRITY": true}}}
    ]});
    ClaimSet::new()
        .with("aikValidated", true, AS)
        .with("events", ev.to_string(), AS)
}

#[test]
fn docs_secure_boot_1_2_with_jmespath() {
    let p = parse(SECURE_BOOT_1_2);
    let o = p.evaluate(&events("AQ")).unwrap();
    assert!(o.authorized);
    assert_eq!(out_value(&o, "secureBootEnabled"), Some(json!(true)));
    let o = p.evaluate(&events("AA")).unwrap();
    assert_eq!(out_value(&o, "secureBootEnabled"), Some(json!(false)));
    // No events at all: the absence rule issues false.
    let o = p.evaluate(&ClaimSet::new()).unwrap();
    assert_eq!(out_value(&o, "secureBootEnabled"), Some(json!(false)));
}

#[test]
fn docs_tpm_1_2_sample_with_elam_and_code_integrity() {
    // "Sample policy for TPM using Policy version 1.2" (TPM sample policies).
    let p = parse(
        r#"version=1.2;

configurationrules{
};

authorizationrules { 
	=> permit();
};

issuancerules{

c:[type == "aikValidated", issuer=="AttestationService"] =>issue(type="aikValidated", value=c.value);

// SecureBoot enabled 
c:[type == "events", issuer=="AttestationService"] => add(type = "efiConfigVariables", value = JmesPath(c.value, "Events[?EventTypeString == 'EV_EFI_VARIABLE_DRIVER_CONFIG' && ProcessedData.VariableGuid == '8BE4DF61-93CA-11D2-AA0D-00E098032B8C']"));
c:[type == "efiConfigVariables", issuer=="AttestationPolicy"]=> issue(type = "SecureBootEnabled", value = JsonToClaimValue(JmesPath(c.value, "[?ProcessedData.UnicodeName == 'SecureBoot'] | length(@) == `1` && @[0].ProcessedData.VariableData == 'AQ'")));
![type=="SecureBootEnabled", issuer=="AttestationPolicy"] => issue(type="SecureBootEnabled", value=false);

// Retrieve bool properties Code integrity
c:[type=="events", issuer=="AttestationService"] => add(type="boolProperties", value=JmesPath(c.value, "Events[? EventTypeString == 'EV_EVENT_TAG' && (PcrIndex == `12` || PcrIndex == `13` || PcrIndex == `19` || PcrIndex == `20`)].ProcessedData.EVENT_TRUSTBOUNDARY"));
c:[type=="boolProperties", issuer=="AttestationPolicy"] => add(type="codeIntegrityEnabledSet", value=JsonToClaimValue(JmesPath(c.value, "[*].EVENT_CODEINTEGRITY")));
c:[type=="codeIntegrityEnabledSet", issuer=="AttestationPolicy"] => issue(type="CodeIntegrityEnabled", value=ContainsOnlyValue(c.value, true));
![type=="CodeIntegrityEnabled", issuer=="AttestationPolicy"] => issue(type="CodeIntegrityEnabled", value=false);

// Elam Driver (Microsoft Defender) Loaded
c:[type=="boolProperties", issuer=="AttestationPolicy"] => add(type="elamDriverLoaded", value=JsonToClaimValue(JmesPath(c.value, "[*].EVENT_LOADEDMODULE_AGGREGATION[] | [? EVENT_IMAGEVALIDATED == `true` && (equals_ignore_case(EVENT_FILEPATH, '\\windows\\system32\\drivers\\wdboot.sys') || equals_ignore_case(EVENT_FILEPATH, '\\windows\\system32\\drivers\\wd\\wdboot.sys'))] | length(@) > `0`")));
c:[type=="elamDriverLoaded", value==true, issuer=="AttestationPolicy"] => issue(type="ELAMDriverLoaded", value=true);
![type=="ELAMDriverLoaded", issuer=="AttestationPolicy"] => issue(type="ELAMDriverLoaded", value=false);

};
"#,
    );
    let o = p.evaluate(&events("AQ")).unwrap();
    let j = o.outgoing_json();
    assert_eq!(j["aikValidated"], json!(true));
    assert_eq!(j["SecureBootEnabled"], json!(true));
    assert_eq!(j["CodeIntegrityEnabled"], json!(true));
    assert_eq!(j["ELAMDriverLoaded"], json!(true), "{j:?}");
}

#[test]
fn docs_pcr_golden_values_in_authorization() {
    let p = parse(
        r#"version=1.2;

authorizationrules
{    
    c:[type == "pcrs", issuer=="AttestationService"] =>  add(type="pcr0Validated", value=JsonToClaimValue(JmesPath(c.value, "PCRs[? Index == `0`].Digests.SHA256 | @[0] =='4c833b1c361fceffd8dc0f81eec76081b71e1a0eb2193caed0b6e1c7735ec33e' ")));
    c:[type == "pcrs", issuer=="AttestationService"] =>  add(type="pcr1Validated", value=JsonToClaimValue(JmesPath(c.value, "PCRs[? Index == `1`].Digests.SHA256 | @[0] =='8c25e3be6ad6f5bd33c9ae40d5d5461e88c1a7366df0c9ee5c7e5ff40d3d1d0e' ")));
    [type=="pcr0Validated", value==true] &&
    [type=="pcr1Validated", value==true] => permit();
};

issuancerules
{
};
"#,
    );
    let pcrs = |p1: &str| {
        ClaimSet::new().with(
            "pcrs",
            json!({"PCRs": [
                {"Index": 0, "Digests": {"SHA256": "4c833b1c361fceffd8dc0f81eec76081b71e1a0eb2193caed0b6e1c7735ec33e"}},
                {"Index": 1, "Digests": {"SHA256": p1}}
            ]})
            .to_string(),
            AS,
        )
    };
    assert!(
        p.evaluate(&pcrs(
            "8c25e3be6ad6f5bd33c9ae40d5d5461e88c1a7366df0c9ee5c7e5ff40d3d1d0e"
        ))
        .unwrap()
        .authorized
    );
    assert!(!p.evaluate(&pcrs("00")).unwrap().authorized);
}

#[test]
fn docs_vbs_enclave_identity() {
    let p = parse(
        r#"version=1.2;

authorizationrules { 
    [type=="vsmReportPresent", value==true] &&
    [type=="enclaveAuthorId", value=="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] &&
    [type=="enclaveImageId", value=="AQEAAAAAAAAAAAAAAAAAAA"] &&
    [type=="enclaveSvn", value>=0] =>  permit();
};

issuancerules
{
};
"#,
    );
    let c = ClaimSet::new()
        .with("vsmReportPresent", true, AS)
        .with(
            "enclaveAuthorId",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            AS,
        )
        .with("enclaveImageId", "AQEAAAAAAAAAAAAAAAAAAA", AS)
        .with("enclaveSvn", 3, AS);
    assert!(p.evaluate(&c).unwrap().authorized);
}

#[test]
fn docs_grammar_identifier_example() {
    // "Claim and claim rules": identifiers referring to claims of earlier
    // conditions.
    let p = parse(
        r#"version=1.0;
authorizationrules { => permit(); };
issuancerules {
F1:[type=="OSName" , issuer=="CustomClaim"] && 
[type=="OSName" , issuer=="AttestationService", value== F1.value ] 
=> issueproperty(type="report_validity_in_minutes", value=1440);

F1:[type=="OSName" , issuer=="CustomClaim"] && 
C2:[type=="OSName" , issuer=="AttestationService", value== F1.value ] 
=> issue(claim = C2);
};"#,
    );
    let same = ClaimSet::new()
        .with("OSName", "Linux", Issuer::CustomClaim)
        .with("OSName", "Linux", AS);
    let o = p.evaluate(&same).unwrap();
    assert_eq!(o.properties.report_validity_in_minutes, Some(1440));
    assert_eq!(o.outgoing.len(), 1);
    assert_eq!(
        o.outgoing[0].issuer, AS,
        "claim=C2 issues the claim as it is"
    );
    let differ = ClaimSet::new()
        .with("OSName", "Linux", Issuer::CustomClaim)
        .with("OSName", "Windows", AS);
    let o = p.evaluate(&differ).unwrap();
    assert_eq!(o.properties.report_validity_in_minutes, None);
    assert!(o.outgoing.is_empty());
}

#[test]
fn docs_author_sign_sample_steps() {
    let p = parse(
        r#"version=1.0;
authorizationrules
{
    [type=="secureBootEnabled", value==true, issuer=="AttestationService"]=>permit();
};

issuancerules
{
    => issue(type="SecurityLevelValue", value=100);
};"#,
    );
    let o = p
        .evaluate(&ClaimSet::new().with("secureBootEnabled", true, AS))
        .unwrap();
    assert!(o.authorized);
    assert_eq!(o.outgoing[0].value, ClaimValue::Integer(100));
    // The same claim from the client does not count.
    let o = p
        .evaluate(&ClaimSet::new().with("secureBootEnabled", true, Issuer::CustomClaim))
        .unwrap();
    assert!(!o.authorized);
    // deny-all draft
    let deny =
        parse("version=1.0;\nauthorizationrules\n{\n=>deny();\n};\n\nissuancerules\n{\n};\n");
    let o = deny.evaluate(&ClaimSet::new()).unwrap();
    assert!(!o.authorized);
    assert_eq!(o.decided_by.unwrap().line, 4);
}

/// The real AzureGuest SEV-SNP token's claims, as incoming claims.
fn azure_guest_claims() -> (serde_json::Value, ClaimSet) {
    let jwt = tee_attest_testkit::vector("maa/azureguest-snp-token.jwt");
    let jwt = String::from_utf8(jwt).unwrap();
    let payload = jwt.trim().split('.').nth(1).unwrap();
    use base64::Engine as _;
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let set = ClaimSet::from_json_object(&json, AS).unwrap();
    (json, set)
}

/// A CVM policy in the 1.0 style: nested claims by their dotted path.
pub const CVM_POLICY_1_0: &str = r#"version=1.0;
authorizationrules
{
    [type=="x-ms-isolation-tee.x-ms-attestation-type", value=="sevsnpvm"] &&
    [type=="x-ms-isolation-tee.x-ms-compliance-status", value=="azure-compliant-cvm"] &&
    [type=="x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable", value==false] => permit();
};
issuancerules
{
    c:[type=="x-ms-isolation-tee.x-ms-compliance-status"] => issue(type="compliance", value=c.value);
    c:[type=="x-ms-azurevm-vmid"] => issue(type="vmid", value=c.value);
};
"#;

/// The same policy in the 1.2 style: JmesPath on the JSON claim.
const CVM_POLICY_1_2: &str = r#"version=1.2;
authorizationrules
{
    c:[type=="x-ms-isolation-tee", issuer=="AttestationService"] =>
        add(type="compliance", value=JsonToClaimValue(JmesPath(c.value, "\"x-ms-compliance-status\"")));
    c:[type=="x-ms-isolation-tee", issuer=="AttestationService"] =>
        add(type="snp-debuggable", value=JsonToClaimValue(JmesPath(c.value, "\"x-ms-sevsnpvm-is-debuggable\"")));
    [type=="snp-debuggable", value==true] => deny();
    [type=="compliance", value=="azure-compliant-cvm", issuer=="AttestationPolicy"] => permit();
};
issuancerules
{
    c:[type=="x-ms-isolation-tee"] => issue(type="secure-boot",
        value=JsonToClaimValue(JmesPath(c.value, "\"x-ms-runtime\".\"vm-configuration\".\"secure-boot\"")));
};
"#;

#[test]
fn cvm_policy_on_the_real_azureguest_token() {
    let (json, claims) = azure_guest_claims();
    let p = parse(CVM_POLICY_1_0);
    let o = p.evaluate(&claims).unwrap();
    assert!(o.authorized, "{}", o.summary());
    assert_eq!(
        o.outgoing_json()["compliance"],
        json!("azure-compliant-cvm")
    );
    assert_eq!(
        o.outgoing_json()["vmid"],
        json!("70F5CE9A-2BDC-4B6B-8401-E9B964D3AEB7")
    );

    let p = parse(CVM_POLICY_1_2);
    let o = p.evaluate(&claims).unwrap();
    assert!(o.authorized, "{}", o.summary());
    assert_eq!(o.decided_by.unwrap().index, 4);
    assert_eq!(o.outgoing_json()["secure-boot"], json!(true));

    // A non-compliant VM is refused by both.
    let mut bad = json.clone();
    bad["x-ms-isolation-tee"]["x-ms-compliance-status"] = json!("not-compliant");
    let bad = ClaimSet::from_json_object(&bad, AS).unwrap();
    assert!(!parse(CVM_POLICY_1_0).evaluate(&bad).unwrap().authorized);
    assert!(!parse(CVM_POLICY_1_2).evaluate(&bad).unwrap().authorized);

    // A debuggable one is denied by rule 3 of the 1.2 policy.
    let mut dbg = json;
    dbg["x-ms-isolation-tee"]["x-ms-sevsnpvm-is-debuggable"] = json!(true);
    let dbg = ClaimSet::from_json_object(&dbg, AS).unwrap();
    let o = parse(CVM_POLICY_1_2).evaluate(&dbg).unwrap();
    assert!(!o.authorized);
    assert_eq!(o.decided_by.unwrap().index, 3);
    assert!(o
        .summary()
        .starts_with("denied by authorizationrules rule 3"));
}

#[test]
fn docs_typos_are_refused() {
    // Claim rule functions sample as published: `issuer="AttestationPolicy"`.
    let typo = SECURE_BOOT_1_2.replace(
        "c:[type==\"efiConfigVariables\", issuer==\"AttestationPolicy\"]",
        "c:[type==\"efiConfigVariables\", issuer=\"AttestationPolicy\"]",
    );
    let e = Policy::parse(&typo).unwrap_err();
    let s = e.syntax().unwrap();
    assert_eq!((s.line, s.col), (13, 38));
    assert_eq!(s.found, "`=`");
    assert!(s.hint.contains("use `==`"), "{s}");

    // "How to author a policy" sample: `type="secureBootEnabled"`, no `;`.
    let e = Policy::parse(
        "version=1.0;\nauthorizationrules\n{\n    c:[type=\"secureBootEnabled\", issuer==\"AttestationService\"]=> permit()\n};\n",
    )
    .unwrap_err();
    let s = e.syntax().unwrap();
    assert_eq!((s.line, s.col), (4, 12));

    // Policy version 1.2 sample: issue("PlatformAttested", value=true).
    let e = Policy::parse(
        "version=1.2;\nauthorizationrules { => permit(); };\nissuancerules {\n[type==\"a\", value==true] => issue(\"PlatformAttested\", value=true);\n};",
    )
    .unwrap_err();
    let s = e.syntax().unwrap();
    assert_eq!((s.line, s.col), (4, 35));
    assert!(s.hint.contains("type=\"PlatformAttested\""));

    // Claim rule functions: NegateBol (misspelt) is an unknown function.
    let e = Policy::parse(
        "version=1.2;\nauthorizationrules { => permit(); };\nissuancerules {\nc:[type==\"Input\"] => add(type=\"Result\", value=NegateBol(c.value));\n};",
    )
    .unwrap_err();
    let s = e.syntax().unwrap();
    assert_eq!((s.line, s.col), (4, 47));
    assert!(s.hint.contains("NegateBool"));
}

#[test]
fn functions_behave_as_documented() {
    let p = parse(
        r#"version=1.2;
authorizationrules { => permit(); };
issuancerules {
=> add(type="JmesPathResult", value=JmesPath("{\"foo\": \"bar\"}", "foo"));
c:[type=="JmesPathResult"] => issue(type="jp", value=c.value);
c1:[type=="JsonData"] && c2:[type=="JmesPathQuery"] => issue(type="jp2", value=JmesPath(c1.value, c2.value));
c:[type=="JsonArray"] => issue(type="arr", value=JsonToClaimValue(c.value));
c:[type=="JsonNull"] => issue(type="null", value=JsonToClaimValue(c.value));
c1:[type=="Subset"] && c2:[type=="Superset"] => issue(type="IsSubset", value=IsSubsetOf(c1.value, c2.value));
c2:[type=="Superset"] && c1:[type=="Subset"] => issue(type="IsSuperset", value=IsSubsetOf(c2.value, c1.value));
c1:[type=="String1"] && c2:[type=="String2"] => issue(type="appended", value=AppendString(c1.value, c2.value));
c:[type=="Input"] => issue(type="negated", value=NegateBool(c.value));
c:[type=="Set"] => issue(type="only100", value=ContainsOnlyValue(c.value, 100));
c:[type=="Subset"] => issue(type="onlyabc", value=ContainsOnlyValue(c.value, "abc"));
![type=="Claim3"] => issue(type="Claim3", value=300);
};"#,
    );
    let c = ClaimSet::new()
        .with("JsonData", "{\"values\": [0,1,2,3,4]}", AS)
        .with("JmesPathQuery", "values[2]", AS)
        .with("JsonArray", "[0, \"abc\", true, 0]", AS)
        .with("JsonNull", "null", AS)
        .with("Subset", "abc", AS)
        .with("Subset", 100, AS)
        .with("Superset", true, AS)
        .with("Superset", "abc", AS)
        .with("Superset", 100, AS)
        .with("String1", "abc", AS)
        .with("String2", "xyz", AS)
        .with("Input", true, AS)
        .with("Set", 100, AS)
        .with("Set", 101, AS);
    let o = p.evaluate(&c).unwrap();
    let j = o.outgoing_json();
    assert_eq!(j["jp"], json!("\"bar\""), "JmesPath returns JSON text");
    assert_eq!(j["jp2"], json!("2"));
    assert_eq!(j["arr"], json!([0, "abc", true, 0]));
    assert!(!j.contains_key("null"), "a null claim value issues nothing");
    assert_eq!(j["IsSubset"], json!(true));
    assert_eq!(j["IsSuperset"], json!(false));
    assert_eq!(j["appended"], json!("abcxyz"));
    assert_eq!(j["negated"], json!(false));
    assert_eq!(j["only100"], json!(false));
    assert_eq!(j["onlyabc"], json!(false));
    assert_eq!(j["Claim3"], json!(300));
}

#[test]
fn runtime_errors_name_the_rule() {
    let p = parse(
        r#"version=1.2;
authorizationrules { => permit(); };
issuancerules {
c:[type=="x"] => issue(type="y", value=JsonToClaimValue(c.value));
};"#,
    );
    for bad in ["{\"an\": \"object\"}", "1.5", "not json"] {
        let e = p.evaluate(&ClaimSet::new().with("x", bad, AS)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("rule 1 (line 4)"), "{msg}");
        assert!(msg.contains("JsonToClaimValue"), "{msg}");
    }
    let e = p.evaluate(&ClaimSet::new().with("x", 3, AS)).unwrap_err();
    assert!(e.to_string().contains("takes a string"));
}

#[test]
fn deny_overrides_an_earlier_permit_and_add_feeds_later_rules() {
    let p = parse(
        r#"version=1.0;
authorizationrules {
  => permit();
  c:[type=="a"] => add(type="b", value=c.value);
  [type=="b", value>=5, issuer=="AttestationPolicy"] => deny();
};
issuancerules {
  => issue(type="never", value=true);
};"#,
    );
    let o = p.evaluate(&ClaimSet::new().with("a", 7, AS)).unwrap();
    assert!(!o.authorized);
    assert_eq!(o.decided_by.unwrap().index, 3);
    assert!(o.outgoing.is_empty());
    let o = p.evaluate(&ClaimSet::new().with("a", 4, AS)).unwrap();
    assert!(o.authorized);
    assert_eq!(o.decided_by.unwrap().index, 1);
    assert_eq!(o.outgoing_json()["never"], json!(true));
}

#[test]
fn comparisons_follow_value_types() {
    let p = parse(
        r#"version=1.0;
authorizationrules {
  [type=="n", value>3, value<=10, valueType=="Integer"] && [type=="s", value!="x"] && [type=="b", value!=false] => permit();
};"#,
    );
    let ok = ClaimSet::new()
        .with("n", 10, AS)
        .with("s", "y", AS)
        .with("b", true, AS);
    assert!(p.evaluate(&ok).unwrap().authorized);
    let str_n = ClaimSet::new()
        .with("n", "10", AS)
        .with("s", "y", AS)
        .with("b", true, AS);
    assert!(
        !p.evaluate(&str_n).unwrap().authorized,
        "a string never orders against an integer"
    );
    let big = ClaimSet::new()
        .with("n", 11, AS)
        .with("s", "y", AS)
        .with("b", true, AS);
    assert!(!p.evaluate(&big).unwrap().authorized);
}

#[test]
fn evaluation_is_deterministic() {
    let (_, claims) = azure_guest_claims();
    let p = parse(CVM_POLICY_1_2);
    let a = p.evaluate(&claims).unwrap();
    for _ in 0..5 {
        assert_eq!(p.evaluate(&claims).unwrap(), a);
    }
}

#[test]
fn unsigned_jwt_sample_from_the_docs_parses() {
    // The text inside "Unsigned Policy for an SGX enclave with
    // PolicyFormat=JWT" (policy examples), without line breaks.
    let p = parse(
        r#"version= 1.0;authorizationrules{c:[type=="$is-debuggable"] => permit();};issuancerules{c:[type=="$is-debuggable"] => issue(type="is-debuggable", value=c.value);c:[type=="$sgx-mrsigner"] => issue(type="sgx-mrsigner", value=c.value);c:[type=="$sgx-mrenclave"] => issue(type="sgx-mrenclave", value=c.value);c:[type=="$product-id"] => issue(type="product-id", value=c.value);c:[type=="$svn"] => issue(type="svn", value=c.value);c:[type=="$tee"] => issue(type="tee", value=c.value);};"#,
    );
    let o = p
        .evaluate(
            &ClaimSet::new()
                .with("$is-debuggable", false, AS)
                .with("$svn", 1, AS),
        )
        .unwrap();
    assert!(o.authorized);
    assert_eq!(o.outgoing_json()["svn"], json!(1));
}

#[test]
fn exploding_cross_products_are_refused() {
    let p = parse(
        r#"version=1.2;
authorizationrules { => permit(); };
issuancerules {
c1:[type=="a"] && c2:[type=="b"] => issue(type="ab", value=AppendString(c1.value, c2.value));
};"#,
    );
    let mut c = ClaimSet::new();
    for i in 0..100 {
        c = c
            .with("a", format!("a{i}"), AS)
            .with("b", format!("b{i}"), AS);
    }
    let e = p.evaluate(&c).unwrap_err();
    assert!(e.to_string().contains("exceeds the limit"), "{e}");
    // 60 × 60 = 3600 is within the limit.
    let mut c = ClaimSet::new();
    for i in 0..60 {
        c = c
            .with("a", format!("a{i}"), AS)
            .with("b", format!("b{i}"), AS);
    }
    assert_eq!(p.evaluate(&c).unwrap().outgoing.len(), 3600);
}

#[test]
fn conditions_without_a_type_test_scan_every_claim() {
    let p = parse(
        r#"version=1.0;
authorizationrules {
  c:[value=="azure-compliant-cvm"] => add(type="found", value=c.type);
  [type=="found", value=="x-ms-isolation-tee.x-ms-compliance-status"] && [type!="nothing", value==false] => permit();
};"#,
    );
    let (_, claims) = azure_guest_claims();
    assert!(p.evaluate(&claims).unwrap().authorized);
    assert!(!p.evaluate(&ClaimSet::new()).unwrap().authorized);
}

#[test]
fn docs_system_guard_sample_parses_and_runs() {
    // "Attestation policy to validate System Guard is enabled as expected"
    // (TPM sample policies), verbatim.
    let p = parse(
        r#"version = 1.2;

authorizationrules
{
    => permit();
};

issuancerules
{
    // Extract the DRTM state auth event
    // The rule attempts to find the valid DRTM state auth event by applying following conditions:
    // 1. There is only one DRTM state auth event in the events log
    // 2. The EVENT_DRTM_STATE_AUTH.SignatureValid field in the DRTM state auth event is set to true
    c:[type=="events", issuer=="AttestationService"] => add(type="validDrtmStateAuthEvent", value=JmesPath(c.value, "Events[? EventTypeString == 'EV_EVENT_TAG' && PcrIndex == `20` && ProcessedData.EVENT_TRUSTBOUNDARY.EVENT_DRTM_STATE_AUTH.SignatureValid != `null`] | length(@) == `1` && @[0] | @.{EventSeq:EventSeq, SignatureValid:ProcessedData.EVENT_TRUSTBOUNDARY.EVENT_DRTM_STATE_AUTH.SignatureValid}"));

    // Check if Signature is valid in extracted state auth events
    c:[type=="validDrtmStateAuthEvent", issuer=="AttestationPolicy"] => issue(type="drtmMleValid", value=JsonToClaimValue(JmesPath(c.value, "SignatureValid")));
    ![type=="drtmMleValid", issuer=="AttestationPolicy"] => issue(type="drtmMleValid", value=false);

    // Get the sequence number of the DRTM state auth event.
    // The sequence number is used to ensure that the SMM event appears before the last DRTM state auth event.
    [type=="drtmMleValid", value==true, issuer=="AttestationPolicy"] &&
    c:[type=="validDrtmStateAuthEvent", issuer=="AttestationPolicy"] => add(type="validDrtmStateAuthEventSeq", value=JmesPath(c.value, "EventSeq"));

    // Create query for SMM event
    // The query is constructed to find the SMM level from the SMM level event that appears exactly once before the valid DRTM state auth event in the event log
    [type=="drtmMleValid", value==true, issuer=="AttestationPolicy"] &&
    c:[type=="validDrtmStateAuthEventSeq", issuer=="AttestationPolicy"] => add(type="smmQuery", value=AppendString(AppendString("Events[? EventTypeString == 'EV_EVENT_TAG' && PcrIndex == `20` && EventSeq < `", c.value), "`].ProcessedData.EVENT_DRTM_SMM | length(@) == `1` && @[0] | @.Value"));

    // Extract SMM value
    [type=="drtmMleValid", value==true, issuer=="AttestationPolicy"] &&
    c1:[type=="smmQuery", issuer=="AttestationPolicy"] &&
    c2:[type=="events", issuer=="AttestationService"] => issue(type="smmLevel", value=JsonToClaimValue(JmesPath(c2.value, c1.value)));
};
"#,
    );
    let ev = json!({"Events": [
        {"EventSeq": 5, "EventTypeString": "EV_EVENT_TAG", "PcrIndex": 20,
         "ProcessedData": {"EVENT_DRTM_SMM": {"Value": 3}}},
        {"EventSeq": 9, "EventTypeString": "EV_EVENT_TAG", "PcrIndex": 20,
         "ProcessedData": {"EVENT_TRUSTBOUNDARY": {"EVENT_DRTM_STATE_AUTH": {"SignatureValid": true}}}}
    ]});
    let o = p
        .evaluate(&ClaimSet::new().with("events", ev.to_string(), AS))
        .unwrap();
    let j = o.outgoing_json();
    assert_eq!(j["drtmMleValid"], json!(true));
    assert_eq!(j["smmLevel"], json!(3), "{j:?}");
    // Without the DRTM event the absence rule issues false and no SMM level.
    let o = p
        .evaluate(&ClaimSet::new().with("events", json!({"Events": []}).to_string(), AS))
        .unwrap();
    let j = o.outgoing_json();
    assert_eq!(j["drtmMleValid"], json!(false));
    assert!(!j.contains_key("smmLevel"));
}
