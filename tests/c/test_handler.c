/* Handler mode (wse_server_serve): on_open, on_message and on_close on the
 * connection's reader thread with the same conn pointer each time; echoes
 * sent on without a copy (wse_conn_send_message), text and 1 MiB binary, in
 * order; a close from inside the handler follows its reply; on_close gets
 * the code; accept and poll refuse; wse_conn_send_message takes the
 * message even when the send fails. */
#include "common.h"

#include <stdatomic.h>
#include <time.h>

struct state {
    atomic_int opened, closed, messages;
    atomic_int same_conn; /* every callback of a connection saw one pointer */
    _Atomic(const wse_conn *) last_conn;
    atomic_int close_code;
};

static void on_open(void *user_data, const wse_conn *conn) {
    struct state *s = user_data;
    atomic_store(&s->last_conn, conn);
    atomic_fetch_add(&s->opened, 1);
    CHECK_RC(wse_conn_send_text(conn, "hello", 5), WSE_RESULT_OK);
}

static void on_message(void *user_data, const wse_conn *conn, wse_message *msg) {
    struct state *s = user_data;
    if (atomic_load(&s->last_conn) != conn) atomic_store(&s->same_conn, 0);
    atomic_fetch_add(&s->messages, 1);
    if (wse_message_len(msg) == 3 && memcmp(wse_message_data(msg), "bye", 3) == 0) {
        wse_message_free(msg);
        CHECK_RC(wse_conn_send_text(conn, "last", 4), WSE_RESULT_OK);
        CHECK_RC(wse_conn_close(conn, 4000, "done"), WSE_RESULT_OK);
        return;
    }
    /* After the close, sends fail, and the message is freed all the same. */
    wse_result rc = wse_conn_send_message(conn, msg);
    CHECK(rc == WSE_RESULT_OK || rc == WSE_RESULT_CLOSED);
}

static void on_close(void *user_data, const wse_conn *conn, uint16_t code, bool clean) {
    struct state *s = user_data;
    (void)clean;
    if (atomic_load(&s->last_conn) != conn) atomic_store(&s->same_conn, 0);
    atomic_store(&s->close_code, code);
    atomic_fetch_add(&s->closed, 1);
}

static void expect_text(wse_conn *client, const char *want) {
    wse_message *msg = NULL;
    CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
    if (!msg) return;
    size_t len = strlen(want);
    CHECK(wse_message_get_kind(msg) == WSE_MESSAGE_KIND_TEXT);
    CHECK(wse_message_len(msg) == len && memcmp(wse_message_data(msg), want, len) == 0);
    wse_message_free(msg);
}

int main(void) {
    struct state s = {0};
    atomic_store(&s.same_conn, 1);
    const wse_config *config = test_config(false);
    const wse_handler handler = {.on_open = on_open, .on_message = on_message, .on_close = on_close};
    wse_server *server = NULL;

    /* A handler needs its on_message; poll events and a handler do not mix. */
    const wse_handler empty = {0};
    CHECK_RC(wse_server_serve("127.0.0.1:0", config, &empty, &s, &server), WSE_RESULT_NULL_PARAMETER);
    CHECK_RC(wse_server_serve("127.0.0.1:0", config, NULL, &s, &server), WSE_RESULT_NULL_PARAMETER);
    const wse_config *polled = test_config(true);
    CHECK_RC(wse_server_serve("127.0.0.1:0", polled, &handler, &s, &server), WSE_RESULT_INVALID_ARGUMENT);
    wse_config_free(polled);
    CHECK(server == NULL);

    CHECK_RC(wse_server_serve("127.0.0.1:0", config, &handler, &s, &server), WSE_RESULT_OK);
    wse_conn *none = NULL;
    CHECK_RC(wse_server_accept(server, 0, &none), WSE_RESULT_INVALID_ARGUMENT);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", (unsigned)wse_server_local_port(server));

    wse_conn *client = NULL;
    CHECK_RC(wse_client_connect(url, NULL, 5000, &client), WSE_RESULT_OK);
    expect_text(client, "hello");

    size_t big_len = (size_t)1 << 20;
    unsigned char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++) big[i] = (unsigned char)(i * 31);
    for (int i = 0; i < 100; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "message %d", i);
        CHECK_RC(wse_conn_send_text(client, text, (size_t)len), WSE_RESULT_OK);
    }
    CHECK_RC(wse_conn_send_binary(client, big, big_len), WSE_RESULT_OK);
    for (int i = 0; i < 100; i++) {
        char want[32];
        snprintf(want, sizeof want, "message %d", i);
        expect_text(client, want);
    }
    wse_message *msg = NULL;
    CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_OK);
    CHECK(wse_message_get_kind(msg) == WSE_MESSAGE_KIND_BINARY);
    CHECK(wse_message_len(msg) == big_len && memcmp(wse_message_data(msg), big, big_len) == 0);
    wse_message_free(msg);
    free(big);

    /* A close from inside the handler goes after the reply it sent first. */
    CHECK_RC(wse_conn_send_text(client, "one", 3), WSE_RESULT_OK);
    CHECK_RC(wse_conn_send_text(client, "bye", 3), WSE_RESULT_OK);
    CHECK_RC(wse_conn_send_text(client, "two", 3), WSE_RESULT_OK);
    expect_text(client, "one");
    expect_text(client, "last");
    CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_CLOSED);
    wse_close_info info;
    CHECK_RC(wse_conn_close_info(client, &info), WSE_RESULT_OK);
    CHECK(info.code == 4000);
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && atomic_load(&s.closed) == 0; i++) nanosleep(&tick, NULL);
    CHECK(atomic_load(&s.opened) == 1 && atomic_load(&s.closed) == 1);
    CHECK(atomic_load(&s.close_code) == 4000);
    CHECK(atomic_load(&s.same_conn) == 1);
    CHECK(atomic_load(&s.messages) >= 103);

    /* ("two" came after the close: its send failed and the handler's
     * message was freed all the same; ASan and valgrind see no leak.) */
    CHECK_RC(wse_conn_send_message(client, NULL), WSE_RESULT_NULL_PARAMETER);

    wse_conn_free(client);
    wse_server_free(server);
    wse_config_free(config);
    return finish("test_handler");
}
