/*
 * A line-based client: each line of standard input is sent as a text
 * message; every message received is printed. One thread, no callbacks:
 * it waits on standard input and polls the connection in turn.
 *
 *   client URL [--ca FILE] [--cert FILE --key FILE] [--proxy URL|direct] [--reconnect]
 *                             (e.g. ws://127.0.0.1:9001/, or wss://localhost:9001/ --ca ca.pem)
 *
 * --proxy goes through an http://, socks5:// or socks5h:// proxy ("direct":
 * none); without it the environment's *_proxy variables decide.
 * --reconnect uses a wse_client: after a drop (a server restart, a dead
 * link) it reconnects, and lines typed meanwhile (up to 100) wait for the
 * next connection.
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wsengine.h"

static void print_message(const wse_message *msg) {
    if (wse_message_get_kind(msg) == WSE_MESSAGE_KIND_TEXT)
        printf("%.*s\n", (int)wse_message_len(msg), (const char *)wse_message_data(msg));
    else
        printf("<%zu bytes of binary>\n", wse_message_len(msg));
    fflush(stdout);
}

static void print_error(const char *what, wse_result rc);

/* Read what standard input has (waiting up to 20 ms) and hand each
 * complete line to `send`; false once input has ended. */
static bool read_lines(char *line, size_t cap, size_t *used, void (*send)(void *, const char *, size_t),
                       void *target) {
    struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&in, 1, 20) <= 0) return true;
    ssize_t got = read(STDIN_FILENO, line + *used, cap - *used);
    if (got <= 0) return false;
    *used += (size_t)got;
    char *nl;
    while ((nl = memchr(line, '\n', *used)) != NULL) {
        size_t len = (size_t)(nl - line);
        send(target, line, len);
        *used -= len + 1;
        memmove(line, nl + 1, *used);
    }
    if (*used == cap) *used = 0; /* an over-long line is dropped */
    return true;
}

static void send_on_conn(void *conn, const char *text, size_t len) {
    wse_result sent = wse_conn_send_text(conn, text, len);
    if (sent != WSE_RESULT_OK) print_error("send", sent);
}

static void send_on_client(void *client, const char *text, size_t len) {
    wse_result sent = wse_client_send_text(client, text, len);
    if (sent != WSE_RESULT_OK) print_error("not sent", sent);
}

/* --reconnect: one loop reads standard input and the client's events. */
static int run_reconnecting(const char *url, wse_config_builder *builder) {
    wse_config_builder_set_reconnect_replay(builder, 100, 1 << 20);
    const wse_config *config = NULL;
    wse_result rc = wse_config_builder_build(builder, &config);
    if (rc != WSE_RESULT_OK) {
        print_error("settings", rc);
        return 1;
    }
    wse_client *client = NULL;
    rc = wse_client_start(url, config, &client);
    wse_config_free(config);
    if (rc != WSE_RESULT_OK) {
        print_error(url, rc);
        return 1;
    }
    static char line[65536];
    size_t used = 0;
    bool input_open = true, running = true;
    while (running) {
        if (input_open && !read_lines(line, sizeof line, &used, send_on_client, client)) {
            input_open = false;
            wse_client_close(client, 1000, "bye");
        }
        wse_client_event *ev = NULL;
        while ((rc = wse_client_poll(client, input_open ? 0 : 100, &ev)) == WSE_RESULT_OK) {
            char cause[256];
            size_t n;
            switch (wse_client_event_get_kind(ev)) {
            case WSE_CLIENT_EVENT_KIND_MESSAGE:
                print_message(wse_client_event_message(ev));
                break;
            case WSE_CLIENT_EVENT_KIND_CONNECTED:
                fprintf(stderr, "%sconnected to %s\n", wse_client_event_reconnected(ev) ? "re" : "", url);
                break;
            case WSE_CLIENT_EVENT_KIND_RECONNECTING:
                if (wse_client_event_cause(ev, cause, sizeof cause, &n) != WSE_RESULT_OK) cause[0] = '\0';
                fprintf(stderr, "%s; reconnecting in %llu ms (attempt %u)\n", cause,
                        (unsigned long long)wse_client_event_delay_ms(ev), wse_client_event_attempt(ev));
                break;
            default:
                if (wse_client_event_cause(ev, cause, sizeof cause, &n) != WSE_RESULT_OK) cause[0] = '\0';
                fprintf(stderr, "closed: %s (%llu lines not sent)\n", cause,
                        (unsigned long long)wse_client_event_unsent_count(ev));
                running = false;
            }
            wse_client_event_free(ev);
        }
        if (rc == WSE_RESULT_CLOSED) running = false;
    }
    wse_client_free(client);
    return 0;
}

static void print_error(const char *what, wse_result rc) {
    char detail[256];
    size_t n;
    if (wse_last_error_message(detail, sizeof detail, &n) != WSE_RESULT_OK) detail[0] = '\0';
    fprintf(stderr, "client: %s: %s (%s)\n", what, wse_result_str((uint32_t)rc), detail);
}

int main(int argc, char **argv) {
    const char *url = NULL, *ca = NULL, *cert = NULL, *key = NULL, *proxy = NULL;
    bool reconnect = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reconnect") == 0) {
            reconnect = true;
            continue;
        }
        const char **slot = strcmp(argv[i], "--ca") == 0      ? &ca
                            : strcmp(argv[i], "--cert") == 0  ? &cert
                            : strcmp(argv[i], "--key") == 0   ? &key
                            : strcmp(argv[i], "--proxy") == 0 ? &proxy
                                                              : NULL;
        if (!slot)
            url = argv[i];
        else if (i + 1 < argc)
            *slot = argv[++i];
        else
            url = NULL, i = argc;
    }
    if (!url) {
        fprintf(stderr,
                "usage: client URL [--ca FILE] [--cert FILE --key FILE] [--proxy URL|direct] [--reconnect]"
                "   (e.g. ws://127.0.0.1:9001/)\n");
        return 2;
    }
    wse_config_builder *builder = wse_config_builder_new();
    wse_result rc = WSE_RESULT_OK;
    if (ca) rc = wse_config_builder_add_tls_ca_file(builder, ca);
    if (rc == WSE_RESULT_OK && (cert || key))
        rc = wse_config_builder_set_tls_client_cert_files(builder, cert ? cert : "", key ? key : "");
    if (rc == WSE_RESULT_OK && proxy)
        rc = strcmp(proxy, "direct") == 0 ? wse_config_builder_set_proxy_direct(builder)
                                          : wse_config_builder_set_proxy(builder, proxy);
    if (rc == WSE_RESULT_OK && reconnect) return run_reconnecting(url, builder);
    const wse_config *config = NULL;
    if (rc == WSE_RESULT_OK) rc = wse_config_builder_build(builder, &config);
    else wse_config_builder_free(builder);
    if (rc != WSE_RESULT_OK) {
        print_error("settings", rc);
        return 1;
    }
    wse_conn *conn = NULL;
    rc = wse_client_connect(url, config, 10000, &conn);
    wse_config_free(config);
    if (rc != WSE_RESULT_OK) {
        print_error(url, rc);
        return 1;
    }
    fprintf(stderr, "connected to %s\n", url);

    static char line[65536];
    size_t used = 0;
    bool input_open = true, running = true;
    while (running) {
        if (input_open && !read_lines(line, sizeof line, &used, send_on_conn, conn)) {
            input_open = false;
            wse_conn_close(conn, 1000, "bye");
        }
        wse_event *event = NULL;
        while ((rc = wse_conn_poll(conn, input_open ? 0 : 100, &event)) == WSE_RESULT_OK) {
            if (wse_event_get_kind(event) == WSE_EVENT_KIND_MESSAGE) {
                print_message(wse_event_message(event));
            } else {
                char reason[128];
                size_t n;
                wse_event_close_reason(event, reason, sizeof reason, &n);
                fprintf(stderr, "closed: %u %s\n", (unsigned)wse_event_close_code(event), reason);
                running = false;
            }
            wse_event_free(event);
        }
        if (rc == WSE_RESULT_CLOSED) running = false;
    }
    wse_conn_free(conn);
    return 0;
}
