/* Shared helpers for the C tests: checks that count, and loopback setup. */
#ifndef WSE_TEST_COMMON_H
#define WSE_TEST_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsengine.h"

static int checks_passed, checks_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            checks_passed++;                                                         \
        } else {                                                                     \
            checks_failed++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_RC(expr, want) CHECK((expr) == (want))

/* Print the summary line and turn failures into the exit status. */
static inline int finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

/* A config with short timeouts; poll mode if asked. Caller frees it. */
static inline const wse_config *test_config(bool poll_events) {
    wse_config_builder *b = wse_config_builder_new();
    wse_config_builder_set_close_timeout_ms(b, 500);
    wse_config_builder_set_ping_interval_ms(b, 0);
    wse_config_builder_set_poll_events(b, poll_events);
    const wse_config *config = NULL;
    if (wse_config_builder_build(b, &config) != WSE_RESULT_OK) {
        fprintf(stderr, "config build failed\n");
        exit(2);
    }
    return config;
}

/* Bind a server on a free loopback port and write "ws://127.0.0.1:PORT/". */
static inline wse_server *test_server(const wse_config *config, char *url, size_t url_len) {
    wse_server *server = NULL;
    if (wse_server_bind("127.0.0.1:0", config, &server) != WSE_RESULT_OK) {
        fprintf(stderr, "bind failed\n");
        exit(2);
    }
    snprintf(url, url_len, "ws://127.0.0.1:%u/", (unsigned)wse_server_local_port(server));
    return server;
}

/* A connected pair: a client and the server side of it (pull mode). */
static inline void test_pair(wse_server *server, const char *url, wse_conn **client, wse_conn **accepted) {
    *client = NULL;
    *accepted = NULL;
    CHECK_RC(wse_client_connect(url, NULL, 5000, client), WSE_RESULT_OK);
    CHECK_RC(wse_server_accept(server, 5000, accepted), WSE_RESULT_OK);
}

/* Receive `count` messages on `conn` and send each straight back, same kind. */
static inline void test_echo_back(const wse_conn *conn, int count) {
    for (int i = 0; i < count; i++) {
        wse_message *msg = NULL;
        CHECK_RC(wse_conn_recv(conn, 5000, &msg), WSE_RESULT_OK);
        if (!msg) return;
        if (wse_message_get_kind(msg) == WSE_MESSAGE_KIND_TEXT)
            CHECK_RC(wse_conn_send_text(conn, (const char *)wse_message_data(msg), wse_message_len(msg)),
                     WSE_RESULT_OK);
        else
            CHECK_RC(wse_conn_send_binary(conn, wse_message_data(msg), wse_message_len(msg)), WSE_RESULT_OK);
        wse_message_free(msg);
    }
}

#endif
