#!/usr/bin/env python3
"""Attest SGX enclaves against tee-attest's MAA-shaped service with Microsoft's
Python SDK (azure-security-attestation 1.0.0, `attest_sgx_enclave`). Run by
crates/cli/tests/sdk_sgx.rs against `tee-attest serve --trust-mock` over HTTPS.

Environment:
  MAA_URL          service base URL (https://127.0.0.1:PORT)
  MAA_CA_FILE      PEM CA bundle that verifies the server certificate
  REAL_QUOTE       file: Intel's real SGX sample quote (its collateral has expired)
  MOCK_QUOTE       file: an SGX quote signed by the mock Intel platform
  MOCK_EHD         file: the enclave held data the mock quote's report data binds
  MOCK_MRENCLAVE   hex MRENCLAVE of the mock quote

Prints one line per check and finally "N passed, N failed"; exit 1 on failure.
"""
import os
import sys
import time
import traceback

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.security.attestation import AttestationClient

URL = os.environ["MAA_URL"].rstrip("/")
CA_FILE = os.environ["MAA_CA_FILE"]
results = {"passed": 0, "failed": 0}


class NoCredential(object):
    """The SDK insists on a credential; attestation needs none here."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken("unused", int(time.time()) + 3600)


def client():
    return AttestationClient(
        URL,
        NoCredential(),
        connection_verify=CA_FILE,
        retry_total=0,
        authentication_policy=SansIOHTTPPolicy(),
    )


def check(name, fn):
    try:
        fn()
        results["passed"] += 1
        print("PASS " + name)
    except Exception:  # noqa: BLE001 - report every failure
        results["failed"] += 1
        print("FAIL " + name)
        traceback.print_exc(file=sys.stdout)


def read(var):
    with open(os.environ[var], "rb") as f:
        return f.read()


def real_sample_refused_as_expired():
    try:
        client().attest_sgx_enclave(read("REAL_QUOTE"))
    except HttpResponseError as e:
        assert e.status_code == 400, e.status_code
        # The SDK read MAA's error body {"error": {"code", "message"}}.
        assert e.error is not None and e.error.code == "AttestationFailed", e.error
        assert "expired" in e.error.message, e.error.message
        return
    raise AssertionError("the real sample with expired collateral was accepted")


def mock_quote_gives_a_token_the_sdk_validates():
    ehd = read("MOCK_EHD")
    # validate_token (the default) checks the signature against /certs.
    result, token = client().attest_sgx_enclave(
        read("MOCK_QUOTE"), runtime_data=ehd, validate_token=True,
        validate_expiration=True)
    assert result.enclave_held_data == ehd, result.enclave_held_data
    assert result.mr_enclave.lower() == os.environ["MOCK_MRENCLAVE"].lower(), result.mr_enclave
    assert result.is_debuggable is False, result.is_debuggable
    assert token.algorithm == "RS256", token.algorithm


def tampered_token_is_refused_by_the_sdk():
    # The SDK's own validation must fail on a token whose payload changed:
    # proves the validation above really checked the signature.
    result, token = client().attest_sgx_enclave(
        read("MOCK_QUOTE"), runtime_data=read("MOCK_EHD"))
    from azure.security.attestation import AttestationToken
    signers = client().get_signing_certificates()
    # The genuine token validates with the service's signers...
    AttestationToken(token=token.to_jwt_string())._validate_token(
        signers, validate_signature=True, validate_expiration=False)
    # ...and with one signature byte changed it does not.
    header, payload, sig = token.to_jwt_string().split(".")
    sig = ("B" if sig[0] != "B" else "C") + sig[1:]
    forged = AttestationToken(token=header + "." + payload + "." + sig)
    try:
        forged._validate_token(signers, validate_signature=True, validate_expiration=False)
    except Exception as e:  # noqa: BLE001
        assert "signature" in str(e) or "certificate used to sign" in str(e), e
        return
    raise AssertionError("a forged token validated")


check("attest_sgx_enclave real sample refused (expired collateral)", real_sample_refused_as_expired)
check("attest_sgx_enclave mock quote, token validated by the SDK", mock_quote_gives_a_token_the_sdk_validates)
check("forged token refused by the SDK's validation", tampered_token_is_refused_by_the_sdk)
print("%d passed, %d failed" % (results["passed"], results["failed"]))
sys.exit(1 if results["failed"] else 0)
