/* Create, use and free every kind of handle; close twice; receive and
 * send after close; free after close; shut a server down twice. */
#include "common.h"

int main(void) {
    CHECK(strcmp(wse_version(), "0.1.0") == 0);
    CHECK(WSE_VERSION_MAJOR == 0 && WSE_VERSION_MINOR == 1);
    CHECK(strcmp(wse_result_str(WSE_RESULT_OK), "ok") == 0);
    CHECK(strcmp(wse_result_str(12345), "unknown result code") == 0);

    const wse_config *config = test_config(false);
    char url[64];
    wse_server *server = test_server(config, url, sizeof url);
    wse_conn *client, *conn;
    test_pair(server, url, &client, &conn);
    CHECK(wse_server_connection_count(server) == 1);

    CHECK_RC(wse_conn_send_text(client, "hi", 2), WSE_RESULT_OK);
    wse_message *msg = NULL;
    CHECK_RC(wse_conn_recv(conn, 5000, &msg), WSE_RESULT_OK);
    CHECK(wse_message_get_kind(msg) == WSE_MESSAGE_KIND_TEXT);
    CHECK(wse_message_len(msg) == 2 && memcmp(wse_message_data(msg), "hi", 2) == 0);
    wse_message_free(msg);

    wse_close_info info;
    CHECK_RC(wse_conn_close_info(conn, &info), WSE_RESULT_NOT_CLOSED);
    CHECK(!wse_conn_is_closed(conn));
    CHECK_RC(wse_conn_close(client, 4000, "done"), WSE_RESULT_OK);
    CHECK_RC(wse_conn_close(client, 4000, "again"), WSE_RESULT_CLOSED); /* close twice */
    CHECK(wse_conn_is_closed(client));

    /* recv after close: the server side sees the close once drained. */
    msg = NULL;
    CHECK_RC(wse_conn_recv(conn, 5000, &msg), WSE_RESULT_CLOSED);
    CHECK(msg == NULL);
    CHECK_RC(wse_conn_close_info(conn, &info), WSE_RESULT_OK);
    CHECK(info.code == 4000 && info.initiator == WSE_CLOSE_INITIATOR_PEER && info.clean);
    CHECK(strcmp(info.reason, "done") == 0);
    CHECK_RC(wse_conn_send_text(conn, "late", 4), WSE_RESULT_CLOSED);
    CHECK_RC(wse_conn_recv(client, 5000, &msg), WSE_RESULT_CLOSED);

    /* free after close, in either order; a retained reference outlives one free. */
    wse_conn *extra = wse_conn_retain(conn);
    CHECK(extra == conn);
    wse_conn_free(conn);
    CHECK(wse_conn_is_closed(extra));
    wse_conn_free(extra);
    wse_conn_free(client);

    CHECK_RC(wse_server_shutdown(server), WSE_RESULT_OK);
    CHECK_RC(wse_server_shutdown(server), WSE_RESULT_OK);
    wse_conn *none = NULL;
    CHECK_RC(wse_server_accept(server, 0, &none), WSE_RESULT_SERVER_SHUTDOWN);
    CHECK(none == NULL);
    wse_server_free(server);
    wse_config_free(config);

    /* A builder that is never built is freed on its own. */
    wse_config_builder_free(wse_config_builder_new());
    return finish("test_lifecycle");
}
