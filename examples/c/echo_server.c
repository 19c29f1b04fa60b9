/*
 * Echo server: every text message comes back as text, binary as binary,
 * on any path, up to 64 MiB. One thread serves every connection through
 * the poll API.
 *
 *   echo_server [ADDR]        (default 127.0.0.1:9001; runs until killed)
 */
#include <stdio.h>
#include <stdlib.h>

#include "wsengine.h"

static void die(const char *what, wse_result rc) {
    char detail[256];
    size_t n;
    if (wse_last_error_message(detail, sizeof detail, &n) != WSE_RESULT_OK) detail[0] = '\0';
    fprintf(stderr, "echo_server: %s: %s (%s)\n", what, wse_result_str((uint32_t)rc), detail);
    exit(1);
}

int main(int argc, char **argv) {
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:9001";
    wse_config_builder *builder = wse_config_builder_new();
    wse_config_builder_set_max_message_size(builder, (size_t)64 << 20);
    wse_config_builder_set_poll_events(builder, true);
    /* One thread serves everyone, so it must never wait for one client: a
     * client that stops reading its echoes is closed (1008) once its send
     * queue is full (16 MiB by default). Left at the poll-mode default
     * (WSE_OVERFLOW_POLICY_FAIL), a send to it would fail with
     * WSE_RESULT_QUEUE_FULL instead; neither ever blocks the loop. */
    wse_config_builder_set_overflow_policy(builder, WSE_OVERFLOW_POLICY_DISCONNECT, 0);
    const wse_config *config = NULL;
    wse_result rc = wse_config_builder_build(builder, &config);
    if (rc != WSE_RESULT_OK) die("config", rc);

    wse_server *server = NULL;
    rc = wse_server_bind(addr, config, &server);
    wse_config_free(config);
    if (rc != WSE_RESULT_OK) die(addr, rc);
    printf("echo_server listening on ws://%s\n", addr);
    fflush(stdout);

    for (;;) {
        wse_event *event = NULL;
        rc = wse_server_poll(server, WSE_TIMEOUT_INFINITE, &event);
        if (rc == WSE_RESULT_SERVER_SHUTDOWN) break;
        if (rc != WSE_RESULT_OK) continue;
        if (wse_event_get_kind(event) == WSE_EVENT_KIND_MESSAGE) {
            const wse_conn *conn = wse_event_conn(event);
            const wse_message *msg = wse_event_message(event);
            if (wse_message_get_kind(msg) == WSE_MESSAGE_KIND_TEXT)
                wse_conn_send_text(conn, (const char *)wse_message_data(msg), wse_message_len(msg));
            else
                wse_conn_send_binary(conn, wse_message_data(msg), wse_message_len(msg));
        }
        wse_event_free(event);
    }
    wse_server_free(server);
    return 0;
}
