/*
 * stalled_vtpm.c: one long-lived client across a vTPM that stops answering
 * (tests/c_program.rs stops its swtpm with SIGSTOP first).
 *
 *   init -> attest: code 13 within TEE_ATTEST_TPM_TIMEOUT, not a hang
 *        -> wait for a line on stdin (the test resumes the vTPM)
 *        -> attest again on the same client: 0, on a fresh TPM context
 *        -> uninit
 *
 * Configuration comes from the environment, as for examples/c/attest.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee_attest.h"

static unsigned attest(TeeAttestClient *client, const char *payload) {
    uint8_t *jwt = NULL;
    size_t jwt_len = 0;
    TeeAttestClientParameters params = {
        .version = TEE_ATTEST_CLIENT_PARAMETERS_VERSION,
        .endpoint = "",
        .client_payload = payload,
    };
    TeeAttestResult r = tee_attest_attest(client, &params, &jwt, &jwt_len);
    if (r.code != 0) {
        fprintf(stderr, "attest: code %u: %s\n", (unsigned)r.code, r.description);
    }
    if (r.code != 0 && (jwt != NULL || jwt_len != 0)) {
        fprintf(stderr, "a failed call returned a buffer\n");
        exit(2);
    }
    tee_attest_free(jwt);
    return (unsigned)r.code;
}

int main(void) {
    TeeAttestClient *client = NULL;
    char line[16];
    TeeAttestResult r = tee_attest_init(NULL, NULL, NULL, &client);
    if (r.code != 0) {
        fprintf(stderr, "init: code %u: %s\n", (unsigned)r.code, r.description);
        return 1;
    }
    printf("first: code %u\n", attest(client, "{\"Nonce\":\"while-stopped\"}"));
    fflush(stdout);
    if (fgets(line, sizeof line, stdin) == NULL) {
        tee_attest_uninit(client);
        return 1;
    }
    printf("second: code %u\n", attest(client, "{\"Nonce\":\"after-resume\"}"));
    fflush(stdout);
    tee_attest_uninit(client);
    return 0;
}
