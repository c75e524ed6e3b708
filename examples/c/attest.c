/*
 * attest.c: the tee-attest C ABI end to end.
 *
 *   init -> attest (payload {"Nonce":"..."}) -> encrypt a message to the
 *   token's ephemeral key -> decrypt it in the vTPM -> compare -> free -> uninit
 *
 * Configuration comes from the environment (TEE_ATTEST_TEE, TEE_ATTEST_TCTI,
 * TEE_ATTEST_IMDS_URL, TEE_ATTEST_EVENT_LOG, TEE_ATTEST_DATA_DIR,
 * TEE_ATTEST_TRUST_MOCK); argv[1], if given, is the attestation endpoint
 * (default: empty, the embedded local verifier). Exits non-zero on any
 * failure, printing the code and the description.
 *
 * Build (from the repository root, after `cargo build -p tee-attest-ffi`):
 *   cc -Wall -Wextra -o attest examples/c/attest.c -I crates/ffi/include \
 *      -L target/debug -ltee_attest -Wl,-rpath,$PWD/target/debug
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee_attest.h"

static void log_cb(void *user_data, uint32_t level, const char *message) {
    (void)user_data;
    static const char *names[] = {"?", "error", "warn", "info", "debug", "trace"};
    fprintf(stderr, "[tee-attest %s] %s\n", level <= 5 ? names[level] : "?", message);
}

static int failed(const char *what, TeeAttestResult r) {
    fprintf(stderr, "%s failed: code %u: %s\n", what, (unsigned)r.code, r.description);
    return 1;
}

/* One encrypt/decrypt round trip; returns 0 on success. */
static int round_trip(TeeAttestClient *client, uint32_t type, const char *name,
                      const uint8_t *jwt, size_t jwt_len, const char *message) {
    uint8_t *enc = NULL, *meta = NULL, *dec = NULL;
    size_t enc_len = 0, meta_len = 0, dec_len = 0;
    size_t msg_len = strlen(message);
    int rc = 1;

    TeeAttestResult r = tee_attest_encrypt(client, type, jwt, jwt_len, (const uint8_t *)message,
                                           msg_len, &enc, &enc_len, &meta, &meta_len);
    if (r.code != 0) {
        failed("encrypt", r);
        goto out;
    }
    printf("%s: encrypted %zu bytes into %zu (metadata %zu bytes)\n", name, msg_len, enc_len,
           meta_len);

    r = tee_attest_decrypt(client, type, enc, enc_len, meta, meta_len, &dec, &dec_len);
    if (r.code != 0) {
        failed("decrypt", r);
        goto out;
    }
    if (dec_len != msg_len || memcmp(dec, message, msg_len) != 0) {
        fprintf(stderr, "%s: decrypted data differs from the message\n", name);
        goto out;
    }
    printf("%s: decrypted %zu bytes: match\n", name, dec_len);
    tee_attest_free(dec);
    dec = NULL;

    /* Tampered data must be refused, with nothing returned. */
    enc[enc_len / 2] ^= 0x01;
    r = tee_attest_decrypt(client, type, enc, enc_len, meta, meta_len, &dec, &dec_len);
    if (r.code == 0 || dec != NULL || dec_len != 0) {
        fprintf(stderr, "%s: tampered data was not refused\n", name);
        goto out;
    }
    printf("%s: tampered data refused (code %u)\n", name, (unsigned)r.code);
    rc = 0;
out:
    tee_attest_free(enc);
    tee_attest_free(meta);
    tee_attest_free(dec);
    return rc;
}

int main(int argc, char **argv) {
    const char *endpoint = argc > 1 ? argv[1] : "";
    TeeAttestClient *client = NULL;
    uint8_t *jwt = NULL;
    size_t jwt_len = 0;
    int rc = 1;

    /* NULL config: everything from the environment. */
    TeeAttestResult r = tee_attest_init(NULL, log_cb, NULL, &client);
    if (r.code != 0) {
        return failed("init", r);
    }

    TeeAttestClientParameters params = {
        .version = TEE_ATTEST_CLIENT_PARAMETERS_VERSION,
        .endpoint = endpoint,
        .client_payload = "{\"Nonce\":\"011510062022\"}",
    };
    r = tee_attest_attest(client, &params, &jwt, &jwt_len);
    if (r.code != 0) {
        failed("attest", r);
        goto out;
    }
    printf("token: %zu bytes\n", jwt_len);
    if (strlen((const char *)jwt) != jwt_len) {
        fprintf(stderr, "token is not NUL-terminated at its length\n");
        goto out;
    }

    /* Microsoft's default (RSAES-PKCS1-v1_5), then the envelope scheme. */
    if (round_trip(client, TEE_ATTEST_ENCRYPTION_NONE, "none", jwt, jwt_len,
                   "a secret for the CVM only") != 0 ||
        round_trip(client, TEE_ATTEST_ENCRYPTION_ENVELOPE, "envelope", jwt, jwt_len,
                   "a longer secret, sealed with AES-256-GCM under a key wrapped to the vTPM") != 0) {
        goto out;
    }
    printf("ok\n");
    rc = 0;
out:
    tee_attest_free(jwt);
    tee_attest_uninit(client);
    return rc;
}
