/* A reconnecting client (wse_client) across a server restart on the same
 * port: connected, reconnecting (attempt, delay within its window, cause),
 * sends kept in the replay buffer and sent first after the reconnect,
 * WSE_RESULT_NOT_CONNECTED once it is full, then close during a wait
 * returns at once and the closed event hands back what was never sent. */
#include "common.h"

#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The next event that is not a message, or NULL after 10 s. */
static wse_client_event *next_notice(wse_client *client) {
    for (int i = 0; i < 1000; i++) {
        wse_client_event *ev = NULL;
        wse_result rc = wse_client_poll(client, 10000, &ev);
        if (rc != WSE_RESULT_OK) return NULL;
        if (wse_client_event_get_kind(ev) != WSE_CLIENT_EVENT_KIND_MESSAGE) return ev;
        wse_client_event_free(ev);
    }
    return NULL;
}

static wse_server *bind_at(const wse_config *config, const char *addr) {
    wse_server *server = NULL;
    CHECK_RC(wse_server_bind(addr, config, &server), WSE_RESULT_OK);
    return server;
}

int main(void) {
    const wse_config *server_config = test_config(false);
    char url[64];
    wse_server *server = test_server(server_config, url, sizeof url);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)wse_server_local_port(server));

    wse_config_builder *b = wse_config_builder_new();
    wse_config_builder_set_ping_interval_ms(b, 0);
    wse_config_builder_set_proxy_direct(b);
    CHECK_RC(wse_config_builder_set_reconnect_delays(b, 200, 400, 2.0), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_reconnect_seed(b, 42), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_reconnect_replay(b, 2, 1024), WSE_RESULT_OK);
    CHECK_RC(wse_config_builder_set_reconnect_attempts(b, 0, 10000), WSE_RESULT_OK);
    const uint16_t codes[] = {1001, 1006};
    const uint16_t statuses[] = {503};
    CHECK_RC(wse_config_builder_set_reconnect_when(b, codes, 2, statuses, 1), WSE_RESULT_OK);
    const wse_config *config = NULL;
    CHECK_RC(wse_config_builder_build(b, &config), WSE_RESULT_OK);

    /* Settings that cannot work are refused when built. */
    wse_config_builder *bad = wse_config_builder_new();
    wse_config_builder_set_reconnect_delays(bad, 500, 100, 2.0);
    const wse_config *unused = NULL;
    CHECK_RC(wse_config_builder_build(bad, &unused), WSE_RESULT_INVALID_ARGUMENT);

    wse_client *client = NULL;
    CHECK_RC(wse_client_start(url, config, &client), WSE_RESULT_OK);
    wse_client_event *ev = next_notice(client);
    CHECK(wse_client_event_get_kind(ev) == WSE_CLIENT_EVENT_KIND_CONNECTED);
    CHECK(!wse_client_event_reconnected(ev));
    wse_client_event_free(ev);
    CHECK(wse_client_is_connected(client));

    /* The server goes away (1001): the client says it will reconnect. */
    wse_server_free(server);
    ev = next_notice(client);
    CHECK(wse_client_event_get_kind(ev) == WSE_CLIENT_EVENT_KIND_RECONNECTING);
    CHECK(wse_client_event_attempt(ev) == 1);
    CHECK(wse_client_event_delay_ms(ev) <= 200);
    char cause[256];
    size_t n = 0;
    CHECK_RC(wse_client_event_cause(ev, cause, sizeof cause, &n), WSE_RESULT_OK);
    CHECK(strstr(cause, "1001") != NULL);
    wse_client_event_free(ev);

    /* Two sends wait for the next connection; a third does not fit. */
    CHECK_RC(wse_client_send_text(client, "kept 1", 6), WSE_RESULT_OK);
    CHECK_RC(wse_client_send_text(client, "kept 2", 6), WSE_RESULT_OK);
    CHECK_RC(wse_client_send_text(client, "no room", 7), WSE_RESULT_NOT_CONNECTED);

    /* Back on the same port: reconnected, the kept messages first. */
    server = bind_at(server_config, addr);
    for (;;) {
        ev = next_notice(client);
        if (!ev) break;
        wse_client_event_kind kind = wse_client_event_get_kind(ev);
        bool reconnected = wse_client_event_reconnected(ev);
        wse_client_event_free(ev);
        if (kind == WSE_CLIENT_EVENT_KIND_CONNECTED) {
            CHECK(reconnected);
            break;
        }
        CHECK(kind == WSE_CLIENT_EVENT_KIND_RECONNECTING);
    }
    CHECK_RC(wse_client_send_text(client, "after", 5), WSE_RESULT_OK);
    wse_conn *conn = NULL;
    CHECK_RC(wse_server_accept(server, 5000, &conn), WSE_RESULT_OK);
    const char *want[] = {"kept 1", "kept 2", "after"};
    for (int i = 0; i < 3 && conn; i++) {
        wse_message *msg = NULL;
        CHECK_RC(wse_conn_recv(conn, 5000, &msg), WSE_RESULT_OK);
        CHECK(msg && wse_message_len(msg) == strlen(want[i]) &&
              memcmp(wse_message_data(msg), want[i], strlen(want[i])) == 0);
        wse_message_free(msg);
    }
    /* The server side answers; the client delivers it as a message event. */
    CHECK_RC(wse_conn_send_text(conn, "hello", 5), WSE_RESULT_OK);
    CHECK_RC(wse_client_poll(client, 5000, &ev), WSE_RESULT_OK);
    CHECK(wse_client_event_get_kind(ev) == WSE_CLIENT_EVENT_KIND_MESSAGE);
    const wse_message *got = wse_client_event_message(ev);
    CHECK(got && wse_message_len(got) == 5 && memcmp(wse_message_data(got), "hello", 5) == 0);
    wse_client_event_free(ev);

    /* Gone again (shut down: 1001; freeing our handle of the connection
     * first would have closed it with 1000, which is not retried); during
     * the wait, close returns at once. */
    wse_server_free(server);
    wse_conn_free(conn);
    ev = next_notice(client);
    CHECK(wse_client_event_get_kind(ev) == WSE_CLIENT_EVENT_KIND_RECONNECTING);
    wse_client_event_free(ev);
    CHECK_RC(wse_client_send_text(client, "never sent", 10), WSE_RESULT_OK);
    double started = now_ms();
    CHECK_RC(wse_client_close(client, 1000, "bye"), WSE_RESULT_OK);
    CHECK(now_ms() - started < 50.0);
    CHECK_RC(wse_client_close(client, 1000, "bye"), WSE_RESULT_CLOSED);
    ev = next_notice(client);
    CHECK(wse_client_event_get_kind(ev) == WSE_CLIENT_EVENT_KIND_CLOSED);
    CHECK(wse_client_event_unsent_count(ev) == 1);
    const wse_message *unsent = wse_client_event_unsent_message(ev, 0);
    CHECK(unsent && wse_message_len(unsent) == 10 && memcmp(wse_message_data(unsent), "never sent", 10) == 0);
    CHECK(wse_client_event_unsent_message(ev, 1) == NULL);
    wse_client_event_free(ev);
    CHECK_RC(wse_client_poll(client, 100, &ev), WSE_RESULT_CLOSED);
    CHECK_RC(wse_client_send_text(client, "late", 4), WSE_RESULT_CLOSED);

    /* NULL handles are refused or ignored, never crash. */
    CHECK_RC(wse_client_poll(NULL, 0, &ev), WSE_RESULT_NULL_PARAMETER);
    CHECK(wse_client_event_get_kind(NULL) == WSE_CLIENT_EVENT_KIND_NONE);
    wse_client_free(NULL);
    wse_client_event_free(NULL);

    wse_client_free(client);
    wse_config_free(config);
    wse_config_free(server_config);
    return finish("test_reconnect");
}
