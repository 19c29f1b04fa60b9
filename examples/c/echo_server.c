/*
 * Echo server: every text message comes back as text, binary as binary,
 * on any path, up to 64 MiB. By default in handler mode: the echo runs on
 * each connection's own reader thread and sends the received message back
 * without copying it (the fastest way). With --poll, one thread serves
 * every connection through the poll API (also without a copy: the message
 * is taken out of its event).
 *
 *   echo_server [ADDR] [--poll]  (default 127.0.0.1:9001; runs until killed)
 *   echo_server [ADDR] --tls-cert cert.pem --tls-key key.pem [--tls-client-ca ca.pem]
 *                             (wss://; with a client CA, client certificates are required)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsengine.h"

/* Handler mode: called on the connection's reader thread for each message,
 * which is ours: sending it on hands it over without a copy (and frees it
 * if the send fails, as when the connection is closing). */
static void echo(void *user_data, const wse_conn *conn, wse_message *msg) {
    (void)user_data;
    wse_conn_send_message(conn, msg);
}

static void die(const char *what, wse_result rc) {
    char detail[256];
    size_t n;
    if (wse_last_error_message(detail, sizeof detail, &n) != WSE_RESULT_OK) detail[0] = '\0';
    fprintf(stderr, "echo_server: %s: %s (%s)\n", what, wse_result_str((uint32_t)rc), detail);
    exit(1);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1:9001", *cert = NULL, *key = NULL, *client_ca = NULL;
    bool poll = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--poll") == 0) {
            poll = true;
            continue;
        }
        const char **slot = strcmp(argv[i], "--tls-cert") == 0        ? &cert
                            : strcmp(argv[i], "--tls-key") == 0       ? &key
                            : strcmp(argv[i], "--tls-client-ca") == 0 ? &client_ca
                                                                      : NULL;
        if (!slot) {
            addr = argv[i];
        } else if (i + 1 < argc) {
            *slot = argv[++i];
        } else {
            fprintf(stderr, "usage: echo_server [ADDR] [--poll] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n");
            return 2;
        }
    }
    wse_config_builder *builder = wse_config_builder_new();
    wse_result rc;
    if (cert || key) {
        rc = wse_config_builder_set_tls_cert_files(builder, cert ? cert : "", key ? key : "");
        if (rc != WSE_RESULT_OK) die("TLS certificate", rc);
    }
    if (client_ca) {
        rc = wse_config_builder_set_tls_client_ca_file(builder, client_ca, true);
        if (rc != WSE_RESULT_OK) die("TLS client CA", rc);
    }
    wse_config_builder_set_max_message_size(builder, (size_t)64 << 20);
    if (poll) {
        wse_config_builder_set_poll_events(builder, true);
        /* One thread serves everyone, so it must never wait for one client:
         * a client that stops reading its echoes is closed (1008) once its
         * send queue is full (16 MiB by default). Left at the poll-mode
         * default (WSE_OVERFLOW_POLICY_FAIL), a send to it would fail with
         * WSE_RESULT_QUEUE_FULL instead; neither ever blocks the loop. (In
         * handler mode a full queue makes the echo wait, which only stops
         * reading that client: its own backpressure.) */
        wse_config_builder_set_overflow_policy(builder, WSE_OVERFLOW_POLICY_DISCONNECT, 0);
    }
    const wse_config *config = NULL;
    rc = wse_config_builder_build(builder, &config);
    if (rc != WSE_RESULT_OK) die("config", rc);

    wse_server *server = NULL;
    if (poll) {
        rc = wse_server_bind(addr, config, &server);
    } else {
        const wse_handler handler = {.on_open = NULL, .on_message = echo, .on_close = NULL};
        rc = wse_server_serve(addr, config, &handler, NULL, &server);
    }
    wse_config_free(config);
    if (rc != WSE_RESULT_OK) die(addr, rc);
    /* The port actually bound (ADDR may ask for port 0). */
    const char *colon = strrchr(addr, ':');
    int host_len = colon ? (int)(colon - addr) : (int)strlen(addr);
    printf("echo_server listening on %s://%.*s:%u\n", cert ? "wss" : "ws", host_len, addr,
           (unsigned)wse_server_local_port(server));
    fflush(stdout);

    if (!poll) {
        /* The connection threads do everything; this one only waits. */
        for (;;) pause();
    }

    for (;;) {
        wse_event *event = NULL;
        rc = wse_server_poll(server, WSE_TIMEOUT_INFINITE, &event);
        if (rc == WSE_RESULT_SERVER_SHUTDOWN) break;
        if (rc != WSE_RESULT_OK) continue;
        /* The message is taken out of the event and sent on: no copy. */
        if (wse_event_get_kind(event) == WSE_EVENT_KIND_MESSAGE)
            wse_conn_send_message(wse_event_conn(event), wse_event_take_message(event));
        wse_event_free(event);
    }
    wse_server_free(server);
    return 0;
}
