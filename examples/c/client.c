/*
 * A line-based client: each line of standard input is sent as a text
 * message; every message received is printed. One thread, no callbacks:
 * it waits on standard input and polls the connection in turn.
 *
 *   client URL [--ca FILE] [--cert FILE --key FILE] [--proxy URL|direct]
 *                             (e.g. ws://127.0.0.1:9001/, or wss://localhost:9001/ --ca ca.pem)
 *
 * --proxy goes through an http://, socks5:// or socks5h:// proxy ("direct":
 * none); without it the environment's *_proxy variables decide.
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wsengine.h"

static void print_error(const char *what, wse_result rc) {
    char detail[256];
    size_t n;
    if (wse_last_error_message(detail, sizeof detail, &n) != WSE_RESULT_OK) detail[0] = '\0';
    fprintf(stderr, "client: %s: %s (%s)\n", what, wse_result_str((uint32_t)rc), detail);
}

int main(int argc, char **argv) {
    const char *url = NULL, *ca = NULL, *cert = NULL, *key = NULL, *proxy = NULL;
    for (int i = 1; i < argc; i++) {
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
                "usage: client URL [--ca FILE] [--cert FILE --key FILE] [--proxy URL|direct]"
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

    char line[65536];
    size_t used = 0;
    bool input_open = true, running = true;
    while (running) {
        struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
        if (input_open && poll(&in, 1, 20) > 0) {
            ssize_t got = read(STDIN_FILENO, line + used, sizeof line - used);
            if (got <= 0) {
                input_open = false;
                wse_conn_close(conn, 1000, "bye");
            } else {
                used += (size_t)got;
                char *nl;
                while ((nl = memchr(line, '\n', used)) != NULL) {
                    size_t len = (size_t)(nl - line);
                    wse_result sent = wse_conn_send_text(conn, line, len);
                    if (sent != WSE_RESULT_OK) print_error("send", sent);
                    used -= len + 1;
                    memmove(line, nl + 1, used);
                }
                if (used == sizeof line) used = 0; /* an over-long line is dropped */
            }
        }
        wse_event *event = NULL;
        while ((rc = wse_conn_poll(conn, input_open ? 0 : 100, &event)) == WSE_RESULT_OK) {
            if (wse_event_get_kind(event) == WSE_EVENT_KIND_MESSAGE) {
                const wse_message *msg = wse_event_message(event);
                if (wse_message_get_kind(msg) == WSE_MESSAGE_KIND_TEXT)
                    printf("%.*s\n", (int)wse_message_len(msg), (const char *)wse_message_data(msg));
                else
                    printf("<%zu bytes of binary>\n", wse_message_len(msg));
                fflush(stdout);
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
