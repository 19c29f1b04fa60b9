/* The poll API: a server in poll mode driven like a game loop (never
 * blocking), and a client driven by wse_conn_poll. */
#include "common.h" /* first: it sets _POSIX_C_SOURCE */

#include <time.h>

static void nap(void) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

int main(void) {
    const wse_config *config = test_config(true);
    char url[64];
    wse_server *server = test_server(config, url, sizeof url);
    wse_conn *clients[3];
    for (int i = 0; i < 3; i++) CHECK_RC(wse_client_connect(url, NULL, 5000, &clients[i]), WSE_RESULT_OK);
    for (int i = 0; i < 3; i++) CHECK_RC(wse_conn_send_text(clients[i], "hello", 5), WSE_RESULT_OK);

    int opens = 0, messages = 0, closes = 0;
    for (int frame = 0; frame < 500 && messages < 3; frame++) {
        wse_event *ev = NULL;
        while (wse_server_poll(server, WSE_TIMEOUT_NONE, &ev) == WSE_RESULT_OK) {
            switch (wse_event_get_kind(ev)) {
            case WSE_EVENT_KIND_OPEN: opens++; break;
            case WSE_EVENT_KIND_MESSAGE: {
                if (messages % 2 == 0) {
                    const wse_message *m = wse_event_message(ev);
                    CHECK_RC(wse_conn_send_text(wse_event_conn(ev), (const char *)wse_message_data(m), wse_message_len(m)),
                             WSE_RESULT_OK);
                } else {
                    /* Taken out of the event and sent on without a copy;
                     * the event keeps an empty message, and is freed as usual. */
                    wse_message *m = wse_event_take_message(ev);
                    CHECK(m != NULL && wse_message_len(m) == 5);
                    CHECK(wse_message_len(wse_event_message(ev)) == 0);
                    wse_message *empty = wse_event_take_message(ev);
                    CHECK(empty != NULL && wse_message_len(empty) == 0);
                    wse_message_free(empty);
                    CHECK_RC(wse_conn_send_message(wse_event_conn(ev), m), WSE_RESULT_OK);
                }
                messages++;
                break;
            }
            case WSE_EVENT_KIND_CLOSED: closes++; break;
            default: CHECK(0);
            }
            wse_event_free(ev);
        }
        nap();
    }
    CHECK(opens == 3 && messages == 3 && closes == 0);

    /* The clients read their echo as events, then close. */
    for (int i = 0; i < 3; i++) {
        wse_event *ev = NULL;
        CHECK_RC(wse_conn_poll(clients[i], 5000, &ev), WSE_RESULT_OK);
        CHECK(wse_event_get_kind(ev) == WSE_EVENT_KIND_MESSAGE);
        CHECK(wse_message_len(wse_event_message(ev)) == 5);
        CHECK(wse_event_conn(ev) == clients[i]);
        wse_event_free(ev);
        CHECK_RC(wse_conn_close(clients[i], 1000, "bye"), WSE_RESULT_OK);
    }
    for (int frame = 0; frame < 500 && closes < 3; frame++) {
        wse_event *ev = NULL;
        while (wse_server_poll(server, WSE_TIMEOUT_NONE, &ev) == WSE_RESULT_OK) {
            if (wse_event_get_kind(ev) == WSE_EVENT_KIND_CLOSED) {
                CHECK(wse_event_close_code(ev) == 1000 && wse_event_close_clean(ev));
                char reason[128];
                size_t n;
                CHECK_RC(wse_event_close_reason(ev, reason, sizeof reason, &n), WSE_RESULT_OK);
                CHECK(strcmp(reason, "bye") == 0);
                closes++;
            }
            wse_event_free(ev);
        }
        nap();
    }
    CHECK(closes == 3);
    for (int i = 0; i < 3; i++) {
        wse_event *ev = NULL;
        CHECK_RC(wse_conn_poll(clients[i], 5000, &ev), WSE_RESULT_OK);
        CHECK(wse_event_get_kind(ev) == WSE_EVENT_KIND_CLOSED);
        wse_event_free(ev);
        CHECK_RC(wse_conn_poll(clients[i], 0, &ev), WSE_RESULT_CLOSED);
        wse_conn_free(clients[i]);
    }
    CHECK_RC(wse_server_shutdown(server), WSE_RESULT_OK);
    wse_event *ev = NULL;
    CHECK_RC(wse_server_poll(server, 1000, &ev), WSE_RESULT_SERVER_SHUTDOWN);
    wse_server_free(server);
    wse_config_free(config);
    return finish("test_poll");
}
