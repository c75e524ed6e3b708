/*
 * secrets.c: a known plaintext through the C ABI at the most detailed log
 * level (tests/c_program.rs checks that it is in no log line, description
 * or output of this program; issue 18).
 *
 *   init (log level TRACE, every message to stderr) -> attest
 *   -> for NONE and ENVELOPE: encrypt argv[1] -> decrypt -> compare -> free
 *      -> tampered ciphertext: refused -> metadata of the other type: refused
 *   -> encrypt to the token in the file argv[2] (another key) -> decrypt in
 *      the vTPM: refused
 *
 * Prints one line per step (never the data), "ok" at the end; every
 * description goes to stderr. Configuration comes from the environment, as
 * for examples/c/attest.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee_attest.h"

static void log_cb(void *user_data, uint32_t level, const char *message) {
    (void)user_data;
    fprintf(stderr, "[tee-attest %u] %s\n", (unsigned)level, message);
}

static void describe(const char *what, TeeAttestResult r) {
    fprintf(stderr, "%s: code %u: %s\n", what, (unsigned)r.code, r.description);
}

/* The whole file at `path` (NUL-terminated), or NULL. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *buf = malloc(1 << 16);
    *len = buf == NULL ? 0 : fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    if (buf != NULL) {
        buf[*len] = '\0';
    }
    return buf;
}

static int round_trip(TeeAttestClient *client, uint32_t type, uint32_t other, const char *name,
                      const uint8_t *jwt, size_t jwt_len, const char *secret) {
    uint8_t *enc = NULL, *meta = NULL, *dec = NULL;
    size_t enc_len = 0, meta_len = 0, dec_len = 0;
    size_t len = strlen(secret);
    int rc = 1;
    TeeAttestResult r = tee_attest_encrypt(client, type, jwt, jwt_len, (const uint8_t *)secret,
                                           len, &enc, &enc_len, &meta, &meta_len);
    if (r.code != 0) {
        describe("encrypt", r);
        goto out;
    }
    r = tee_attest_decrypt(client, type, enc, enc_len, meta, meta_len, &dec, &dec_len);
    if (r.code != 0) {
        describe("decrypt", r);
        goto out;
    }
    printf("%s: %s\n", name, dec_len == len && memcmp(dec, secret, len) == 0 ? "match" : "differs");
    tee_attest_free(dec);
    dec = NULL;
    /* Metadata of the other type. */
    r = tee_attest_decrypt(client, other, enc, enc_len, meta, meta_len, &dec, &dec_len);
    describe("decrypt, other type", r);
    printf("%s: other type: code %u\n", name, (unsigned)r.code);
    tee_attest_free(dec);
    dec = NULL;
    /* Tampered. */
    enc[enc_len / 2] ^= 0x01;
    r = tee_attest_decrypt(client, type, enc, enc_len, meta, meta_len, &dec, &dec_len);
    describe("decrypt, tampered", r);
    printf("%s: tampered: code %u\n", name, (unsigned)r.code);
    rc = 0;
out:
    tee_attest_free(enc);
    tee_attest_free(meta);
    tee_attest_free(dec);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: secrets PLAINTEXT FOREIGN_TOKEN_FILE\n");
        return 2;
    }
    const char *secret = argv[1];
    TeeAttestClient *client = NULL;
    uint8_t *jwt = NULL;
    int rc = 1;
    size_t jwt_len = 0;
    TeeAttestConfig config = {
        .version = TEE_ATTEST_CONFIG_VERSION,
        .log_level = TEE_ATTEST_LOG_TRACE,
    };
    TeeAttestResult r = tee_attest_init(&config, log_cb, NULL, &client);
    if (r.code != 0) {
        describe("init", r);
        return 1;
    }
    TeeAttestClientParameters params = {
        .version = TEE_ATTEST_CLIENT_PARAMETERS_VERSION,
        .endpoint = "",
        .client_payload = "{\"Nonce\":\"secrets\"}",
    };
    r = tee_attest_attest(client, &params, &jwt, &jwt_len);
    if (r.code != 0) {
        describe("attest", r);
        goto out;
    }
    if (round_trip(client, TEE_ATTEST_ENCRYPTION_NONE, TEE_ATTEST_ENCRYPTION_ENVELOPE, "none", jwt,
                   jwt_len, secret) != 0 ||
        round_trip(client, TEE_ATTEST_ENCRYPTION_ENVELOPE, TEE_ATTEST_ENCRYPTION_NONE, "envelope",
                   jwt, jwt_len, secret) != 0) {
        goto out;
    }
    /* Data for another key. */
    size_t foreign_len = 0;
    char *foreign = read_file(argv[2], &foreign_len);
    if (foreign == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        goto out;
    }
    uint8_t *enc = NULL, *meta = NULL, *dec = NULL;
    size_t enc_len = 0, meta_len = 0, dec_len = 0;
    r = tee_attest_encrypt(client, TEE_ATTEST_ENCRYPTION_ENVELOPE, (const uint8_t *)foreign,
                           foreign_len, (const uint8_t *)secret, strlen(secret), &enc, &enc_len,
                           &meta, &meta_len);
    free(foreign);
    if (r.code != 0) {
        describe("encrypt to another key", r);
        goto out;
    }
    r = tee_attest_decrypt(client, TEE_ATTEST_ENCRYPTION_ENVELOPE, enc, enc_len, meta, meta_len,
                           &dec, &dec_len);
    describe("decrypt, another key", r);
    printf("another key: code %u\n", (unsigned)r.code);
    tee_attest_free(enc);
    tee_attest_free(meta);
    tee_attest_free(dec);
    printf("ok\n");
    rc = 0;
out:
    tee_attest_free(jwt);
    tee_attest_uninit(client);
    return rc;
}
