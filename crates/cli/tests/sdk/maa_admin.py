#!/usr/bin/env python3
"""Drive tee-attest's MAA-shaped policy administration API with Microsoft's
Python SDK (azure-security-attestation 1.0.0). Run by
crates/cli/tests/policy_admin.rs against `tee-attest serve` over HTTPS
(`cargo xtask deps` installs the SDK into target/sdk-venv).

Requires: azure-security-attestation==1.0.0, azure-core, cryptography, six
(the SDK imports `six` but does not declare it; `pip install six`).

Environment:
  MAA_URL           service base URL, e.g. https://127.0.0.1:8443 (no trailing /)
  MAA_CA_FILE       PEM CA bundle that verifies the server certificate (https only)
  MAA_TOKEN_FILE    file holding the bearer JWT the service accepts for policy admin
  MAA_SIGNING_KEY   PEM private key (RSA; the SDK cannot sign with EC keys)   [optional]
  MAA_SIGNING_CERT  PEM certificate of that key; must be a current policy
                    management certificate of the instance                  [optional]
  MAA_ISOLATED      "1": the instance is in Isolated mode, so unsigned set/reset must
                    be REJECTED and add/remove certificate tests run. Default "0":
                    unsigned set/reset must succeed (AAD mode).
  MAA_CERT_TESTS    "1": run add/remove certificate tests even when MAA_ISOLATED=0
  MAA_TYPE          attestation type, default SevSnpVm
  MAA_POLICY_FILE   policy text to set (ASCII), default a small SGX policy

Prints one line per check and finally "N passed, N failed"; exit 1 on failure.
"""
import datetime
import hashlib
import os
import sys
import time
import traceback

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.security.attestation import (
    AttestationAdministrationClient,
    AttestationClient,
    AttestationPolicyToken,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

URL = os.environ.get("MAA_URL", "https://127.0.0.1:8443").rstrip("/")
CA_FILE = os.environ.get("MAA_CA_FILE")
TOKEN = open(os.environ["MAA_TOKEN_FILE"]).read().strip() if os.environ.get("MAA_TOKEN_FILE") else None
SIGNING_KEY = open(os.environ["MAA_SIGNING_KEY"]).read() if os.environ.get("MAA_SIGNING_KEY") else None
SIGNING_CERT = open(os.environ["MAA_SIGNING_CERT"]).read() if os.environ.get("MAA_SIGNING_CERT") else None
ISOLATED = os.environ.get("MAA_ISOLATED", "0") == "1"
CERT_TESTS = ISOLATED or os.environ.get("MAA_CERT_TESTS", "0") == "1"
ATT_TYPE = os.environ.get("MAA_TYPE", "SevSnpVm")
POLICY = (open(os.environ["MAA_POLICY_FILE"]).read() if os.environ.get("MAA_POLICY_FILE") else
          "version= 1.0;\n"
          "authorizationrules\n{\n"
          "    [ type==\"x-ms-sevsnpvm-is-debuggable\", value==false ] => permit();\n"
          "};\n"
          "issuancerules\n{\n"
          "    c:[type==\"x-ms-sevsnpvm-launchmeasurement\"] => issue(type=\"measurement\", value=c.value);\n"
          "};\n")
# A second, distinguishable policy for the signed round.
POLICY_SIGNED = POLICY.replace("\"measurement\"", "\"signed-measurement\"")

# azure-core refuses to send a bearer token over plain http unless told per call.
PER_CALL = {"enforce_https": False} if URL.lower().startswith("http://") else {}

results = {"passed": 0, "failed": 0}


class StaticTokenCredential(object):
    """azure.core TokenCredential that always returns one fixed bearer token.
    The SDK asks for scope 'https://attest.azure.net/.default'; it is ignored."""

    def __init__(self, token):
        self.token = token
        self.scopes_seen = []

    def get_token(self, *scopes, **kwargs):
        self.scopes_seen.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def client_kwargs():
    kw = {"retry_total": 0}  # no retry/backoff on 5xx: fail fast
    if CA_FILE:
        kw["connection_verify"] = CA_FILE
    return kw


def admin_client(token=TOKEN, no_auth=False, **extra):
    kw = client_kwargs()
    kw.update(extra)
    if no_auth:
        # The SDK refuses credential=None; a no-op authentication policy makes
        # it send no Authorization header at all.
        kw["authentication_policy"] = SansIOHTTPPolicy()
    return AttestationAdministrationClient(URL, StaticTokenCredential(token or "unused"), **kw)


def check(name, fn):
    try:
        detail = fn()
        results["passed"] += 1
        print("PASS %s%s" % (name, (" -- " + str(detail)) if detail else ""))
    except Exception as e:  # noqa: BLE001 -- report every failure kind
        results["failed"] += 1
        print("FAIL %s -- %s: %s" % (name, type(e).__name__, e))
        if os.environ.get("MAA_VERBOSE"):
            traceback.print_exc()


def skip(name, why):
    print("SKIP %s -- %s" % (name, why))


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_http_error(fn, statuses, name=""):
    try:
        fn()
    except HttpResponseError as e:
        expect(e.status_code in statuses, "%s: status %s not in %s" % (name, e.status_code, statuses))
        # The service should send {"error": {"code", "message"}}; azure-core then fills e.error.
        expect(e.error is not None and e.error.code, "%s: no {error:{code,message}} body (error=%r)" % (name, e.error))
        return "HTTP %d %s: %s" % (e.status_code, e.error.code, e.error.message)
    raise AssertionError("%s: call succeeded, expected HTTP %s" % (name, statuses))


def sha256(s):
    return hashlib.sha256(s.encode("utf-8")).digest()


def der_of_pem(pem):
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def new_cert_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sdk-test-added-%d" % time.time())])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def main():
    if not TOKEN:
        print("MAA_TOKEN_FILE is required")
        return 2
    if bool(SIGNING_KEY) != bool(SIGNING_CERT):
        print("MAA_SIGNING_KEY and MAA_SIGNING_CERT go together")
        return 2
    admin = admin_client()
    signed_kw = {"signing_key": SIGNING_KEY, "signing_certificate": SIGNING_CERT}

    # ---- signing keys / metadata (token validation depends on /certs) ----
    def t_certs():
        c = AttestationClient(URL, StaticTokenCredential(TOKEN), **client_kwargs())
        signers = c.get_signing_certificates(**PER_CALL)
        expect(signers, "GET /certs returned no keys")
        for s in signers:
            expect(s.certificates, "a /certs key has no x5c")
            x509.load_pem_x509_certificate(s.certificates[0].encode())
        return "%d signer(s), kids=%s" % (len(signers), [s.key_id for s in signers])
    check("GET /certs (JWKS with x5c)", t_certs)

    def t_openid():
        c = AttestationClient(URL, StaticTokenCredential(TOKEN), **client_kwargs())
        md = c.get_open_id_metadata(**PER_CALL)
        expect(isinstance(md, dict) and md.get("jwks_uri"), "no jwks_uri in %r" % (md,))
        return "issuer=%s" % md.get("issuer")
    check("GET /.well-known/openid-configuration", t_openid)

    # ---- get_policy ----
    def t_get():
        policy, token = admin.get_policy(ATT_TYPE, **PER_CALL)  # validates the token by default
        expect(isinstance(policy, str), "policy is not str")
        expect(token.algorithm not in (None, "none"), "response token is unsigned (alg=%s)" % token.algorithm)
        return "alg=%s kid=%s, %d chars" % (token.algorithm, token.key_id, len(policy))
    check("get_policy", t_get)

    # ---- unsigned set/reset (AAD mode succeeds; Isolated mode rejects) ----
    if not ISOLATED:
        def t_set_unsigned():
            res, token = admin.set_policy(ATT_TYPE, POLICY, **PER_CALL)
            expect(res.policy_resolution == "Updated", "policy_resolution=%r" % res.policy_resolution)
            expected = AttestationPolicyToken(POLICY).to_jwt_string()
            expect(res.policy_token_hash == sha256(expected),
                   "x-ms-policy-token-hash mismatch: got %r" % res.policy_token_hash)
            expect(res.policy_signer is None, "unsigned policy reported a signer")
            got, _ = admin.get_policy(ATT_TYPE, **PER_CALL)
            expect(got == POLICY, "get_policy after set returned %r" % got[:80])
            return "Updated, hash ok, round-trip ok"
        check("set_policy unsigned (bearer)", t_set_unsigned)

        def t_reset_unsigned():
            res, _ = admin.reset_policy(ATT_TYPE, **PER_CALL)
            expect(res.policy_resolution == "Removed", "policy_resolution=%r" % res.policy_resolution)
            expect(res.policy_token_hash == sha256("eyJhbGciOiJub25lIn0.."),
                   "reset hash mismatch: got %r" % res.policy_token_hash)
            got, _ = admin.get_policy(ATT_TYPE, **PER_CALL)
            expect(got != POLICY, "policy still the custom one after reset")
            return "Removed"
        check("reset_policy unsigned", t_reset_unsigned)
    else:
        check("set_policy unsigned rejected (isolated)",
              lambda: expect_http_error(lambda: admin.set_policy(ATT_TYPE, POLICY, **PER_CALL),
                                        (400, 401, 403), "unsigned set"))
        check("reset_policy unsigned rejected (isolated)",
              lambda: expect_http_error(lambda: admin.reset_policy(ATT_TYPE, **PER_CALL),
                                        (400, 401, 403), "unsigned reset"))

    # ---- signed set/reset ----
    if SIGNING_KEY:
        def t_set_signed():
            res, _ = admin.set_policy(ATT_TYPE, POLICY_SIGNED, **dict(signed_kw, **PER_CALL))
            expect(res.policy_resolution == "Updated", "policy_resolution=%r" % res.policy_resolution)
            # RSA PKCS#1 v1.5 is deterministic, so re-signing yields the same JWS.
            expected = AttestationPolicyToken(POLICY_SIGNED, **signed_kw).to_jwt_string()
            expect(res.policy_token_hash == sha256(expected), "x-ms-policy-token-hash mismatch")
            expect(res.policy_signer is not None, "no x-ms-policy-signer in the response")
            expect(der_of_pem(res.policy_signer.certificates[0]) == der_of_pem(SIGNING_CERT),
                   "x-ms-policy-signer is not our certificate")
            got, _ = admin.get_policy(ATT_TYPE, **PER_CALL)
            expect(got == POLICY_SIGNED, "get_policy after signed set returned %r" % got[:80])
            return "Updated, signer+hash ok, round-trip ok"
        check("set_policy signed", t_set_signed)

        def t_reset_signed():
            res, _ = admin.reset_policy(ATT_TYPE, **dict(signed_kw, **PER_CALL))
            expect(res.policy_resolution == "Removed", "policy_resolution=%r" % res.policy_resolution)
            got, _ = admin.get_policy(ATT_TYPE, **PER_CALL)
            expect(got != POLICY_SIGNED, "policy still the signed one after reset")
            return "Removed"
        check("reset_policy signed", t_reset_signed)

        def t_set_signed_untrusted():
            other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "untrusted")])
            now = datetime.datetime.now(datetime.timezone.utc)
            other_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                          .public_key(other_key.public_key()).serial_number(1)
                          .not_valid_before(now - datetime.timedelta(minutes=5))
                          .not_valid_after(now + datetime.timedelta(days=1)).sign(other_key, hashes.SHA256()))
            kw = {"signing_key": other_key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()).decode(),
                  "signing_certificate": other_cert.public_bytes(serialization.Encoding.PEM).decode()}
            return expect_http_error(lambda: admin.set_policy(ATT_TYPE, POLICY, **dict(kw, **PER_CALL)),
                                     (400, 401, 403), "untrusted signer")
        if ISOLATED:
            check("set_policy signed by a non-management cert rejected (isolated)", t_set_signed_untrusted)
    else:
        skip("set_policy/reset_policy signed", "MAA_SIGNING_KEY/MAA_SIGNING_CERT not set")

    # ---- policy management certificates ----
    def t_get_certs():
        certs, _ = admin.get_policy_management_certificates(**PER_CALL)
        expect(isinstance(certs, list), "not a list")
        ders = [der_of_pem(chain[0]) for chain in certs]
        if ISOLATED and SIGNING_CERT:
            expect(der_of_pem(SIGNING_CERT) in ders, "our signing cert is not a policy management cert")
        return "%d certificate(s)" % len(certs)
    check("get_policy_management_certificates", t_get_certs)

    if SIGNING_KEY and CERT_TESTS:
        added = new_cert_pem()
        added_der = der_of_pem(added)
        thumb = hashlib.sha1(added_der).hexdigest()

        def t_add():
            res, _ = admin.add_policy_management_certificate(added, **dict(signed_kw, **PER_CALL))
            expect(res.certificate_resolution == "IsPresent", "resolution=%r" % res.certificate_resolution)
            expect((res.certificate_thumbprint or "").lower() == thumb,
                   "thumbprint %r != sha1 %s" % (res.certificate_thumbprint, thumb))
            certs, _ = admin.get_policy_management_certificates(**PER_CALL)
            expect(added_der in [der_of_pem(c[0]) for c in certs], "added cert not listed")
            return "IsPresent, thumbprint %s" % res.certificate_thumbprint
        check("add_policy_management_certificate", t_add)

        def t_remove():
            res, _ = admin.remove_policy_management_certificate(added, **dict(signed_kw, **PER_CALL))
            expect(res.certificate_resolution == "IsAbsent", "resolution=%r" % res.certificate_resolution)
            expect((res.certificate_thumbprint or "").lower() == thumb, "thumbprint mismatch")
            certs, _ = admin.get_policy_management_certificates(**PER_CALL)
            expect(added_der not in [der_of_pem(c[0]) for c in certs], "removed cert still listed")
            return "IsAbsent"
        check("remove_policy_management_certificate", t_remove)
    else:
        skip("add/remove_policy_management_certificate",
             "needs MAA_SIGNING_KEY/CERT and MAA_ISOLATED=1 or MAA_CERT_TESTS=1")

    # ---- authorization failures ----
    check("set_policy without Authorization -> 401/403",
          lambda: expect_http_error(lambda: admin_client(no_auth=True).set_policy(ATT_TYPE, POLICY, **PER_CALL),
                                    (401, 403), "no auth"))
    check("set_policy with bogus bearer -> 401/403",
          lambda: expect_http_error(lambda: admin_client(token="not-a-valid-token").set_policy(
              ATT_TYPE, POLICY, **PER_CALL), (401, 403), "bogus bearer"))
    check("reset_policy with bogus bearer -> 401/403",
          lambda: expect_http_error(lambda: admin_client(token="not-a-valid-token").reset_policy(
              ATT_TYPE, **PER_CALL), (401, 403), "bogus bearer reset"))
    if SIGNING_KEY:
        # A valid policy signature must not stand in for the bearer token.
        check("signed set_policy with bogus bearer -> 401/403",
              lambda: expect_http_error(lambda: admin_client(token="not-a-valid-token").set_policy(
                  ATT_TYPE, POLICY, **dict(signed_kw, **PER_CALL)), (401, 403), "bogus bearer signed"))

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
